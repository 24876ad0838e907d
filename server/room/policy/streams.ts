/**
 * The policy of the `streams` root (streamed replies, shared/stream.ts), for one update:
 * each new value is its author's, appended to an open stream within the limits; a removed
 * stream must be finished as its message (same id) in the same update, or be replaced.
 * Used by server/room/policy/update-policy.ts's Checker; returns a refusal instead of throwing.
 */
import * as Yjs from 'yjs';
import { ID_PATTERN } from '../../../shared/schema.ts';
import { DEFAULT_STREAM_LIMITS, STREAM_REFUSAL, type StreamEntry, checkStreamWrite, validateStreamEntry } from '../../../shared/stream.ts';
import { type PolicyContext, type Refusal, refuse } from './verdict.ts';

export class StreamChecker {
  /** Stream id → its value as of this update's latest write (null: removed in it). */
  private readonly values = new Map<string, StreamEntry | null>();
  /** Streams this update removes: each must be finished as a message, or replaced. */
  private readonly removals = new Set<string>();

  constructor(
    private readonly ctx: PolicyContext,
    /** Ids of the messages this update appends (filled as the checker goes). */
    private readonly newIds: Set<string>,
  ) {}

  /** The current value of a stream: this update's latest write, else the relay's. */
  private before(id: string): StreamEntry | null {
    if (this.values.has(id)) return this.values.get(id)!;
    return (this.ctx.roots.streams.get(id) as StreamEntry | undefined) ?? null;
  }

  /** A new value (or a removal, as deleted content) of the entry `id`. */
  write(id: string | null, content: Yjs.Item['content']): Refusal | null {
    if (id === null || !ID_PATTERN.test(id)) return refuse('streams entry without a valid id');
    const before = this.before(id);
    if (before && before.authorId !== this.ctx.userId) return refuse('stream of another user');
    if (content instanceof Yjs.ContentDeleted) {
      // Written and removed before it reached us (an offline finish): it must end as its message.
      if (before && before.status !== 'streaming') return refuse('an interrupted stream is final');
      this.values.set(id, null);
      this.removals.add(id);
      return null;
    }
    const arr = (content as Yjs.ContentAny).arr;
    if (arr.length !== 1) return refuse('malformed streams entry');
    const v = validateStreamEntry(arr[0]);
    if (!v.ok) return refuse(`invalid stream: ${v.reason}`);
    const after = arr[0] as StreamEntry;
    const limits = this.ctx.streamLimits ?? DEFAULT_STREAM_LIMITS;
    if (!before) {
      if (this.newIds.has(id) || this.ctx.isKnownMessageId(id)) return refuse('stream id of an existing message');
      if (this.openOf(this.ctx.userId, id) + 1 > limits.maxOpenStreams) return refuse('too many open streams');
    }
    const code = checkStreamWrite({ writerId: this.ctx.userId, before, after }, limits);
    if (code !== null) return refuse(code === STREAM_REFUSAL.size ? 'stream too large' : 'stream write not allowed', code);
    this.values.set(id, after);
    return null;
  }

  /** A value the relay has was deleted: the author's own open stream, replaced or finished. */
  removeKnown(id: string): Refusal | null {
    const current = (this.ctx.roots.streams.get(id) as StreamEntry | undefined) ?? null;
    if (current && current.authorId !== this.ctx.userId) return refuse('stream of another user');
    if (current && current.status !== 'streaming') return refuse('an interrupted stream is final');
    if (!this.values.has(id)) this.values.set(id, null);
    this.removals.add(id);
    return null;
  }

  /** After the whole update: every removed stream became its message (or was replaced). */
  finish(): Refusal | null {
    for (const id of this.removals) {
      if (this.values.get(id) !== null) continue;
      if (!this.newIds.has(id) && !this.ctx.isKnownMessageId(id)) return refuse('a stream is removed only when finished as its message');
    }
    return null;
  }

  /** Open streams of `user` other than `except`, at the relay and in this update. */
  private openOf(user: string, except: string): number {
    let n = 0;
    for (const [k, e] of this.ctx.roots.streams.entries()) {
      if (k !== except && !this.values.has(k) && e.authorId === user && e.status === 'streaming') n++;
    }
    for (const [k, e] of this.values) if (k !== except && e?.authorId === user && e.status === 'streaming') n++;
    return n;
  }
}
