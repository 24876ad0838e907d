/**
 * The policy of the `edits`, `redactions` and `reactions` roots (docs/design/message-lifecycle.md):
 * only a message's author edits it; its author or a moderator deletes it; a user writes and
 * removes only their own reactions, within the per-message bound. Revisions and deletion
 * markers are history: a peer never overwrites or deletes one.
 */
import * as Y from 'yjs';
import { CloseCode } from '../../../shared/errors.ts';
import { MAX_REACTIONS_PER_MESSAGE, parseEditKey, parseReactionKey, validateEdit, validateReaction, validateRedaction } from '../../../shared/message-lifecycle.ts';
import { canModerate, canRedact } from '../../../shared/roles.ts';
import { systemEventsOf } from '../../../shared/membership.ts';
import type { EditEntry, ThreadMeta } from '../../../shared/schema.ts';
import { type PolicyContext, PolicyError, refuse } from './verdict.ts';

/** What a lifecycle write needs to know beyond the context: authors of messages in this update. */
export interface LifecycleState {
  /** Author of each message appended earlier in the same update. */
  readonly newAuthors: ReadonlyMap<string, string>;
}

/** Ids the accepted update touches: new deletion markers, and edits/reactions of deleted messages. */
export interface LifecycleNotes {
  /** Message ids the relay must (re)purge after the commit. */
  redact: Set<string>;
  /** Message ids with a new revision (their rows take the current text after the commit). */
  edited: Set<string>;
  /**
   * Deletion markers the writer may no longer write but once could (a moderator demoted, or
   * a remote author's message, while offline): accepted, then removed again by the relay, so
   * the writer's client converges instead of being refused (4402) at every reconnect.
   */
  revert: Set<string>;
}

function valueOf(content: Y.Item["content"]): unknown {
  if (!(content instanceof Y.ContentAny)) throw new PolicyError(refuse('malformed entry'));
  const arr = content.arr;
  if (arr.length !== 1) throw new PolicyError(refuse('malformed entry'));
  return arr[0];
}

/** Author of `messageId`: from this update, else the room's lookup (live document or rows). */
function authorOf(ctx: PolicyContext, st: LifecycleState, messageId: string): string | undefined {
  return st.newAuthors.get(messageId) ?? ctx.authorOfKnownMessage?.(messageId);
}

/** A write of a new revision. */
export function checkEditWrite(ctx: PolicyContext, st: LifecycleState, notes: LifecycleNotes, key: string | null, content: Y.Item["content"]): void {
  const k = key === null ? null : parseEditKey(key);
  if (!k) throw new PolicyError(refuse('malformed edit key'));
  if (content instanceof Y.ContentDeleted) throw new PolicyError(refuse('deleting a revision is not allowed'));
  const value = valueOf(content);
  const v = validateEdit(value, ctx.maxTextLength);
  if (!v.ok) throw new PolicyError(refuse(`invalid edit: ${v.reason}`, v.reason === 'text too long' ? CloseCode.TOO_LARGE : CloseCode.POLICY_VIOLATION));
  const held = ctx.roots.edits.get(key!);
  if (held !== undefined) {
    // The same revision written again: a client carrying its un-acknowledged revisions into a
    // newer generation (client/generations/lifecycle-carry.ts) cannot know which ones the roll
    // carried already. Identical, it changes nothing; any other value would rewrite history.
    if (sameRevision(held, value as EditEntry)) return;
    throw new PolicyError(refuse('a revision is never overwritten'));
  }
  // The record of a deleted message is gone: an edit made before the author learnt of the
  // deletion is accepted and removed again (refusing it would refuse their document forever).
  if (ctx.roots.redactions.has(k.messageId)) return void notes.redact.add(k.messageId);
  const author = authorOf(ctx, st, k.messageId);
  if (author === undefined) throw new PolicyError(refuse('edit of an unknown message'));
  if (author !== ctx.userId) throw new PolicyError(refuse("editing another user's message"));
  notes.edited.add(k.messageId);
}

const sameRevision = (a: EditEntry, b: EditEntry): boolean => a.text === b.text && a.editedAt === b.editedAt;

/** A write of a deletion marker. */
export function checkRedactionWrite(ctx: PolicyContext, st: LifecycleState, notes: LifecycleNotes, key: string | null, content: Y.Item["content"]): void {
  if (key === null || !/^[0-9A-Za-z._:~-]{1,64}$/.test(key)) throw new PolicyError(refuse('malformed redaction key'));
  if (content instanceof Y.ContentDeleted) throw new PolicyError(refuse('a deletion is final'));
  const value = valueOf(content);
  const v = validateRedaction(value);
  if (!v.ok) throw new PolicyError(refuse(`invalid redaction: ${v.reason}`));
  if ((value as { by: string }).by !== ctx.userId) throw new PolicyError(refuse('redaction in the name of another user'));
  // Two deletions of one message crossed (author and moderator, both offline): it is gone already.
  if (ctx.roots.redactions.has(key)) return void notes.redact.add(key);
  const author = authorOf(ctx, st, key);
  if (!canRedact(metaOf(ctx), ctx.userId, author)) {
    // A moderator's marker for a message the relay does not know (never stored here, or
    // sealed and not found) is reverted too: refused, it would come back at every reconnect.
    if (mayOnceHaveRedacted(ctx, ctx.userId)) return void notes.revert.add(key);
    throw new PolicyError(refuse(author === undefined ? 'deleting an unknown message' : "deleting another user's message"));
  }
  notes.redact.add(key);
}

/** Reaction bookkeeping of one update: the bound per (message, user). */
export class ReactionCounter {
  private counts: Map<string, number> | null = null;
  private readonly added = new Set<string>();

  constructor(private readonly ctx: PolicyContext) {}

  /** A write (or removal) of a reaction entry. */
  write(notes: LifecycleNotes, key: string | null, content: Y.Item["content"]): void {
    const k = key === null ? null : parseReactionKey(key);
    if (!k) throw new PolicyError(refuse('malformed reaction key'));
    if (k.userId !== this.ctx.userId) throw new PolicyError(refuse('reaction for another user'));
    if (content instanceof Y.ContentDeleted) return;
    const v = validateReaction(valueOf(content));
    if (!v.ok) throw new PolicyError(refuse(`invalid reaction: ${v.reason}`));
    if (this.ctx.roots.redactions.has(k.messageId)) notes.redact.add(k.messageId);
    if (this.ctx.roots.reactions.has(key!) || this.added.has(key!)) return;
    this.added.add(key!);
    const counts = this.load();
    const n = (counts.get(k.messageId) ?? 0) + 1;
    counts.set(k.messageId, n);
    if (n > MAX_REACTIONS_PER_MESSAGE) throw new PolicyError(refuse('too many reactions on one message'));
  }

  /** A deletion of a reaction the relay has: only one's own. */
  remove(key: string | null): void {
    const k = key === null ? null : parseReactionKey(key);
    if (!k) throw new PolicyError(refuse('malformed reaction key'));
    if (k.userId !== this.ctx.userId) throw new PolicyError(refuse("removing another user's reaction"));
  }

  /** The connected user's reactions per message at the relay (counted once per update). */
  private load(): Map<string, number> {
    if (this.counts) return this.counts;
    const counts = new Map<string, number>();
    const infix = `|${this.ctx.userId}|`;
    for (const key of this.ctx.roots.reactions.keys()) {
      const i = key.indexOf(infix);
      if (i > 0 && key.indexOf('|') === i) counts.set(key.slice(0, i), (counts.get(key.slice(0, i)) ?? 0) + 1);
    }
    return (this.counts = counts);
  }
}

/**
 * Whether `userId` moderates the thread now or did in this generation (a `moderators_set`
 * event named them): a deletion they wrote offline may predate their demotion, so it is
 * reverted rather than refused. A plain member who never moderated is refused (4402).
 */
function mayOnceHaveRedacted(ctx: PolicyContext, userId: string): boolean {
  if (canModerate(metaOf(ctx), userId)) return true;
  for (const e of systemEventsOf(ctx.doc)) {
    if (e && e.type === 'moderators_set' && Array.isArray(e.moderators) && e.moderators.includes(userId)) return true;
  }
  return false;
}

function metaOf(ctx: PolicyContext): Pick<ThreadMeta, 'participants' | 'owner' | 'moderators'> {
  const m = ctx.roots.meta;
  const participants = m.get('participants');
  const owner = m.get('owner');
  const moderators = m.get('moderators');
  return {
    participants: Array.isArray(participants) ? (participants as string[]) : [],
    ...(typeof owner === 'string' ? { owner } : {}),
    ...(Array.isArray(moderators) ? { moderators: moderators as string[] } : {}),
  };
}
