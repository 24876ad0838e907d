/**
 * Streamed replies (issue #15; docs/design/streaming.md). A stream lives in the thread
 * document's `streams` map, key = stream id (a ULID that becomes the message id), value = a
 * plain record replaced by a longer one at each chunk. Only its author writes it, only while
 * it is `streaming`, the text only grows, within size limits; `finish` turns it into an
 * ordinary message (same id) and removes the entry in one transaction; `abort` by the author
 * or the relay (author gone quiet) leaves it `interrupted`: final, read-only, no seq.
 */
import { ID_PATTERN, isValidUserId, type StreamEntry } from './schema.ts';

export type { StreamEntry, StreamStatus } from './schema.ts';

export interface StreamLimits {
  /** Largest streamed text, UTF-8 bytes. */
  maxStreamBytes: number;
  /** Streams a user may have open (streaming) in one thread. */
  maxOpenStreams: number;
  /** A stream not written for this long is interrupted by the relay, ms. */
  streamIdleMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxStreamBytes: 10000,
  maxOpenStreams: 4,
  streamIdleMs: 30000,
};

/** Close codes reused from the sync protocol. */
export const STREAM_REFUSAL = { policy: 4402, size: 4413, rate: 4529 } as const;

const MAX_REASON = 200;
const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** Shape check of a stream value (not who may write it). */
export function validateStreamEntry(v: unknown): { ok: true } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'stream entry is not an object' };
  const e = v as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!['authorId', 'startedAt', 'text', 'status', 'replyTo', 'reason'].includes(k)) return { ok: false, reason: `unknown stream field ${k.slice(0, 40)}` };
  }
  if (typeof e.authorId !== 'string' || !isValidUserId(e.authorId)) return { ok: false, reason: 'invalid stream author' };
  if (typeof e.startedAt !== 'number' || !Number.isFinite(e.startedAt)) return { ok: false, reason: 'invalid startedAt' };
  if (typeof e.text !== 'string') return { ok: false, reason: 'stream text is not a string' };
  if (e.status !== 'streaming' && e.status !== 'interrupted') return { ok: false, reason: 'invalid stream status' };
  if (e.replyTo !== undefined && (typeof e.replyTo !== 'string' || !ID_PATTERN.test(e.replyTo))) return { ok: false, reason: 'invalid replyTo' };
  if (e.reason !== undefined && (typeof e.reason !== 'string' || e.reason.length > MAX_REASON)) return { ok: false, reason: 'invalid reason' };
  return { ok: true };
}

export interface StreamWrite {
  writerId: string;
  /** The entry before this write (null: the write starts the stream). */
  before: StreamEntry | null;
  after: StreamEntry;
}

/** Returns the close code that refuses a client's write of `after`, or null when allowed. */
export function checkStreamWrite(w: StreamWrite, limits: StreamLimits = DEFAULT_STREAM_LIMITS): number | null {
  const { before, after } = w;
  if (after.authorId !== w.writerId) return STREAM_REFUSAL.policy;
  if (before) {
    if (before.authorId !== w.writerId || before.status !== 'streaming') return STREAM_REFUSAL.policy;
    if (after.startedAt !== before.startedAt || after.replyTo !== before.replyTo) return STREAM_REFUSAL.policy;
    if (!after.text.startsWith(before.text)) return STREAM_REFUSAL.policy;
  } else if (after.status !== 'streaming') {
    return STREAM_REFUSAL.policy;
  }
  // Only the author's abort sets `interrupted` from a client, with an `aborted:` reason.
  if (after.status === 'interrupted' && !(after.reason ?? '').startsWith('aborted')) return STREAM_REFUSAL.policy;
  if (after.status === 'streaming' && after.reason !== undefined) return STREAM_REFUSAL.policy;
  if (utf8Length(after.text) > limits.maxStreamBytes) return STREAM_REFUSAL.size;
  return null;
}
