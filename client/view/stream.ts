/**
 * Streamed replies in the SDK (`view.startStream()`): a reply that grows chunk by chunk in
 * the thread document's `streams` map — visible live in every tab (the same Yjs update path as
 * messages) and on every device (through the relay) — then becomes an ordinary message with
 * the same id on `finish()`, or stays `interrupted` with its text so far on `abort()` (or when
 * the relay sees its author go quiet). See shared/stream.ts for the rules the relay enforces.
 */
import type * as Y from 'yjs';
import { DEFAULT_MAX_TEXT_LENGTH, type MessageRecord, type ThreadRoots } from '../../shared/schema.ts';
import { DEFAULT_STREAM_LIMITS, type StreamEntry, type StreamStatus } from '../../shared/stream.ts';

/** Appends in one burst (same task) go out as one update; a later append is sent at once. */
const COALESCE_MS = 0;

/** A stream as a view shows it (unfinished: not a message yet, no seq, no receipts). */
export interface ViewStream {
  id: string;
  authorId: string;
  text: string;
  status: StreamStatus;
  startedAt: number;
  replyTo?: string;
  /** Why it was interrupted: `idle` (the relay), `aborted:<reason>` (its author). */
  reason?: string;
  mine: boolean;
}

/** The author's handle on a stream it started. */
export interface StreamHandle {
  /** The stream id, which becomes the message id on `finish()`. */
  readonly id: string;
  /** `finished` after finish(); `interrupted` after abort() or when the relay ended it. */
  readonly status: StreamStatus | 'finished';
  /** Appends text; throws a SkeinError `STREAM_CLOSED` once finished or interrupted, `STREAM_TOO_LARGE` over the limit. */
  append(chunk: string): void;
  /** Turns the stream into a message (same id) and resolves with its id once durable locally. */
  finish(): Promise<string>;
  /** Ends the stream as `interrupted`, keeping the text so far. */
  abort(reason?: string): void;
}

export interface StreamDeps {
  doc: Y.Doc;
  roots: ThreadRoots;
  userId: string;
  origin: unknown;
  limits(): { maxStreamBytes: number; maxTextLength: number };
  /** After the final message was appended: durable locally, queued for the relay. */
  sent(record: MessageRecord): Promise<void>;
  error(code: string, message: string): Error;
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

export function startStream(d: StreamDeps, id: string, opts: { replyTo?: string } = {}): StreamHandle {
  const entry: StreamEntry = { authorId: d.userId, startedAt: Date.now(), text: '', status: 'streaming' };
  if (opts.replyTo !== undefined) entry.replyTo = opts.replyTo;
  d.doc.transact(() => d.roots.streams.set(id, entry), d.origin);
  let buffered = '';
  let timer: ReturnType<typeof setTimeout> | null = null;
  let done: 'finished' | null = null;
  const current = () => d.roots.streams.get(id);
  const open = () => {
    const c = current();
    if (done || !c || c.status !== 'streaming') throw d.error('STREAM_CLOSED', `stream ${id} is ${done ?? c?.status ?? 'gone'}`);
    return c;
  };
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!buffered) return;
    const c = current();
    const chunk = buffered;
    buffered = '';
    // The relay may have ended it meanwhile (idle): what is left is dropped, never forced in.
    if (!c || c.status !== 'streaming') return;
    d.doc.transact(() => d.roots.streams.set(id, { ...c, text: c.text + chunk }), d.origin);
  };
  return {
    id,
    get status() {
      return done ?? current()?.status ?? 'interrupted';
    },
    append(chunk: string) {
      const c = open();
      const max = d.limits().maxStreamBytes;
      if (utf8Length(c.text + buffered + chunk) > max) throw d.error('STREAM_TOO_LARGE', `a stream holds at most ${max} bytes`);
      buffered += chunk;
      timer ??= setTimeout(flush, COALESCE_MS);
    },
    async finish() {
      flush();
      const c = open();
      const max = d.limits().maxTextLength;
      if (c.text.length > max) throw d.error('TEXT_TOO_LONG', `the text has ${c.text.length} characters; this relay takes at most ${max}`);
      const record: MessageRecord = { id, authorId: d.userId, text: c.text, clientSentAt: Date.now() };
      if (c.replyTo !== undefined) record.replyTo = c.replyTo;
      const messages = d.roots.messages;
      // One transaction: the entry becomes the message, so nobody ever sees both or neither.
      d.doc.transact(() => {
        messages.insert(messages.length, [record]);
        d.roots.streams.delete(id);
      }, d.origin);
      done = 'finished';
      await d.sent(record);
      return id;
    },
    abort(reason = 'aborted') {
      flush();
      const c = current();
      if (done || !c || c.status !== 'streaming') return;
      d.doc.transact(() => d.roots.streams.set(id, { ...c, status: 'interrupted', reason: `aborted:${reason}`.slice(0, 200) }), d.origin);
    },
  };
}

/** The streams of a thread (oldest first), minus any already finished as a message. */
export function listStreams(roots: ThreadRoots, userId: string, isMessage: (id: string) => boolean): ViewStream[] {
  const out: ViewStream[] = [];
  for (const [id, e] of roots.streams.entries()) {
    if (isMessage(id)) continue;
    const s: ViewStream = { id, authorId: e.authorId, text: e.text, status: e.status, startedAt: e.startedAt, mine: e.authorId === userId };
    if (e.replyTo !== undefined) s.replyTo = e.replyTo;
    if (e.reason !== undefined) s.reason = e.reason;
    out.push(s);
  }
  return out.sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
}

/** Limits for the SDK's own checks: the relay's, else the defaults. */
export function streamLimitsOf(limits: { maxStreamBytes?: number; maxTextLength?: number } | undefined) {
  return {
    maxStreamBytes: limits?.maxStreamBytes ?? DEFAULT_STREAM_LIMITS.maxStreamBytes,
    maxTextLength: limits?.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH,
  };
}
