/**
 * Edits, deletions and reactions in a thread view (docs/design/message-lifecycle.md): the
 * writes (into the live document, durable in IndexedDB before they resolve, merged on
 * reconnect like sends) and the overlay that shows them on the ordered messages.
 */
import { storeState } from 'y-indexeddb';
import { monotonicFactory } from 'ulid';
import { type ReactionSummary, editKey, isValidEmoji, reactionKey } from '../../shared/message-lifecycle.ts';
import { canRedact } from '../../shared/roles.ts';
import { DEFAULT_MAX_TEXT_LENGTH, validateMessageRecord } from '../../shared/schema.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import { afterPendingWrites } from '../local/local-store.ts';
import type { ViewMessage } from './message-list.ts';
import type { ReactionRemovals } from './reaction-removals.ts';
import { SkeinError } from './view-writes.ts';

const nextId = monotonicFactory();

/** A reaction group as a view shows it. */
export interface ViewReaction extends ReactionSummary {
  /** The signed-in user is among `users`. */
  mine: boolean;
}

/** What a lifecycle write needs of its view. */
export interface LifecycleHost {
  userId: string;
  origin: unknown;
  maxTextLength(): number;
  generation(): LiveGeneration;
  /** The message as the view shows it (live or sealed history). */
  message(id: string): ViewMessage | undefined;
  isClosed(): boolean;
  /** Where removed reactions are remembered until a roll cannot bring them back. */
  removals: ReactionRemovals;
}

function durable(gen: LiveGeneration): Promise<void> {
  return afterPendingWrites(gen.persistence.db!, 'updates');
}

function shown(h: LifecycleHost, id: string): ViewMessage {
  if (h.isClosed()) throw new SkeinError('CLOSED', 'thread view is closed');
  const m = h.message(id);
  if (!m || m.seq === undefined && !m.mine) throw new SkeinError('NOT_FOUND', 'no such message in this thread');
  if (m.redacted) throw new SkeinError('MESSAGE_DELETED', 'the message was deleted');
  return m;
}

/** Writes a new revision of the signed-in user's message; resolves once durable locally. */
export async function editMessage(h: LifecycleHost, id: string, text: string): Promise<void> {
  const m = shown(h, id);
  if (!m.mine) throw new SkeinError('FORBIDDEN', 'only the author edits a message');
  const max = h.maxTextLength() ?? DEFAULT_MAX_TEXT_LENGTH;
  if (text.length > max) throw new SkeinError('TEXT_TOO_LONG', `the text has ${text.length} characters; this relay takes at most ${max}`);
  const v = validateMessageRecord({ id, authorId: h.userId, text, clientSentAt: 0 }, max);
  if (!v.ok) throw new SkeinError('BAD_REQUEST', `cannot edit: ${v.reason}`);
  const gen = h.generation();
  gen.doc.transact(() => gen.roots.edits.set(editKey(id, nextId()), { text, editedAt: Date.now() }), h.origin);
  await durable(gen);
}

/**
 * Deletes a message (the author's own, or anyone's for a moderator, except a message from
 * another relay: shared/roles.ts `canRedact`): it shows as deleted at once; the relay then removes its text everywhere (design/message-lifecycle.md).
 */
export async function deleteMessage(h: LifecycleHost, id: string, meta: { participants: string[]; owner?: string; moderators?: string[] } | null): Promise<void> {
  const m = shown(h, id);
  if (!m.mine && !(meta && canRedact(meta, h.userId, m.authorId))) {
    throw new SkeinError('FORBIDDEN', "only the author or a moderator deletes a message, and only its author a message from another relay");
  }
  const gen = h.generation();
  if (gen.roots.redactions.has(id)) return;
  gen.doc.transact(() => gen.roots.redactions.set(id, { by: h.userId, at: Date.now() }), h.origin);
  await durable(gen);
}

/** Adds (`on`) or removes the signed-in user's `emoji` on a message. */
export async function setReaction(h: LifecycleHost, id: string, emoji: string, on: boolean): Promise<void> {
  shown(h, id);
  if (!isValidEmoji(emoji)) throw new SkeinError('BAD_REQUEST', 'a reaction is one emoji');
  const key = reactionKey(id, h.userId, emoji);
  if (h.generation().roots.reactions.has(key) === on) return;
  const at = Date.now();
  // Noted before the removal is written: a removal leaves no entry a roll could carry.
  if (!on) await h.removals.note(key, at, h.generation().info.generation);
  const gen = h.generation();
  gen.doc.transact(() => {
    if (on) gen.roots.reactions.set(key, { at });
    else gen.roots.reactions.delete(key);
  }, h.origin);
  await Promise.all([durable(gen), on ? h.removals.forget(key) : null]);
}

/**
 * Rewrites the local IndexedDB copy of a document from its current state: y-indexeddb keeps
 * the updates it stored (a deleted message's text among them) until its own trim, so after
 * the relay removed a message the copy is replaced by one that only holds what is left.
 */
export function compactLocalCopy(gen: LiveGeneration): Promise<void> {
  return storeState(gen.persistence, true);
}
