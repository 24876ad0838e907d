/**
 * Edits, deletions (redactions) and reactions of messages (docs/design/message-lifecycle.md):
 * keys, validation and the derived views every replica computes the same way. The relay's
 * policy, the SDK and the app all use these, so a rule reads the same everywhere.
 */
import { DEFAULT_MAX_TEXT_LENGTH, type EditEntry, ID_PATTERN, type ReactionEntry, type Redaction, type ThreadRoots, type ValidationResult, isValidUserId } from './schema.ts';

/** At most this many distinct emoji per user on one message. */
export const MAX_REACTIONS_PER_MESSAGE = 20;
/** An emoji key is at most this many UTF-16 units (one grapheme; flags and ZWJ sequences are long). */
export const MAX_EMOJI_LENGTH = 32;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Key of a revision in `edits`. */
export const editKey = (messageId: string, editId: string): string => `${messageId}|${editId}`;

/** Splits an `edits` key; null when malformed. */
export function parseEditKey(key: string): { messageId: string; editId: string } | null {
  const parts = key.split('|');
  if (parts.length !== 2 || !ID_PATTERN.test(parts[0]!) || !ID_PATTERN.test(parts[1]!)) return null;
  return { messageId: parts[0]!, editId: parts[1]! };
}

/** Key of a reaction in `reactions`. */
export const reactionKey = (messageId: string, userId: string, emoji: string): string => `${messageId}|${userId}|${emoji}`;

/** Splits a `reactions` key; null when malformed (bad id, user or emoji). */
export function parseReactionKey(key: string): { messageId: string; userId: string; emoji: string } | null {
  const a = key.indexOf('|');
  const b = key.indexOf('|', a + 1);
  if (a <= 0 || b <= a + 1) return null;
  const messageId = key.slice(0, a);
  const userId = key.slice(a + 1, b);
  const emoji = key.slice(b + 1);
  if (!ID_PATTERN.test(messageId) || !isValidUserId(userId) || !isValidEmoji(emoji)) return null;
  return { messageId, userId, emoji };
}

const EMOJI = /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[0-9#*]\uFE0F?\u20E3)/u;
let segmenter: Intl.Segmenter | null = null;

/** One grapheme cluster that is an emoji (pictograph, flag or keycap), short, without `|`. */
export function isValidEmoji(emoji: string): boolean {
  if (emoji.length === 0 || emoji.length > MAX_EMOJI_LENGTH || emoji.includes('|')) return false;
  if (/[\u0000-\u001f\u007f]/.test(emoji) || !EMOJI.test(emoji)) return false;
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let n = 0;
  for (const _ of segmenter.segment(emoji)) if (++n > 1) return false;
  return n === 1;
}

/** Checks an `edits` value. Never echoes message text. */
export function validateEdit(value: unknown, maxTextLength: number = DEFAULT_MAX_TEXT_LENGTH): ValidationResult {
  if (!isPlainObject(value)) return { ok: false, reason: 'edit is not a plain object' };
  const keys = Object.keys(value);
  if (keys.length !== 2 || !('text' in value) || !('editedAt' in value)) return { ok: false, reason: 'edit must be {text, editedAt}' };
  if (typeof value.text !== 'string') return { ok: false, reason: 'text is not a string' };
  if (value.text.length > maxTextLength) return { ok: false, reason: 'text too long' };
  if (!finite(value.editedAt)) return { ok: false, reason: 'invalid editedAt' };
  return { ok: true };
}

/** Checks a `redactions` value. */
export function validateRedaction(value: unknown): ValidationResult {
  if (!isPlainObject(value)) return { ok: false, reason: 'redaction is not a plain object' };
  const keys = Object.keys(value);
  if (keys.length !== 2 || !('by' in value) || !('at' in value)) return { ok: false, reason: 'redaction must be {by, at}' };
  if (typeof value.by !== 'string' || !isValidUserId(value.by)) return { ok: false, reason: 'invalid by' };
  if (!finite(value.at)) return { ok: false, reason: 'invalid at' };
  return { ok: true };
}

/** Checks a `reactions` value. */
export function validateReaction(value: unknown): ValidationResult {
  if (!isPlainObject(value)) return { ok: false, reason: 'reaction is not a plain object' };
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'at' || !finite(value.at)) return { ok: false, reason: 'reaction must be {at}' };
  return { ok: true };
}

/** One revision of a message, as members see it. */
export interface Revision {
  editId: string;
  text: string;
  editedAt: number;
}

/** Revision order: `(editedAt, editId)`, the same on every replica. */
const byRevision = (a: Revision, b: Revision): number => a.editedAt - b.editedAt || (a.editId < b.editId ? -1 : a.editId > b.editId ? 1 : 0);

/** The revisions of `messageId` in `edits`, oldest first. */
export function revisionsOf(edits: Iterable<[string, EditEntry]>, messageId: string): Revision[] {
  const out: Revision[] = [];
  const prefix = `${messageId}|`;
  for (const [key, e] of edits) {
    if (!key.startsWith(prefix) || !e || typeof e.text !== 'string') continue;
    const k = parseEditKey(key);
    if (k) out.push({ editId: k.editId, text: e.text, editedAt: e.editedAt });
  }
  return out.sort(byRevision);
}

/** Revisions of every edited message, by message id, each oldest first (one pass over `edits`). */
export function revisionsByMessage(edits: Iterable<[string, EditEntry]>): Map<string, Revision[]> {
  const out = new Map<string, Revision[]>();
  for (const [key, e] of edits) {
    const k = parseEditKey(key);
    if (!k || !e || typeof e.text !== 'string') continue;
    let list = out.get(k.messageId);
    if (!list) out.set(k.messageId, (list = []));
    list.push({ editId: k.editId, text: e.text, editedAt: e.editedAt });
  }
  for (const list of out.values()) list.sort(byRevision);
  return out;
}

/** Reactions of one message grouped by emoji: count and who, in first-reacted order. */
export interface ReactionSummary {
  emoji: string;
  count: number;
  users: string[];
}

/** Reactions of every message, by message id (one pass over `reactions`). */
export function reactionsByMessage(reactions: Iterable<[string, ReactionEntry]>): Map<string, ReactionSummary[]> {
  const raw = new Map<string, Array<{ emoji: string; userId: string; at: number }>>();
  for (const [key, r] of reactions) {
    const k = parseReactionKey(key);
    if (!k || !r) continue;
    let list = raw.get(k.messageId);
    if (!list) raw.set(k.messageId, (list = []));
    list.push({ emoji: k.emoji, userId: k.userId, at: r.at });
  }
  const out = new Map<string, ReactionSummary[]>();
  for (const [id, list] of raw) {
    list.sort((a, b) => a.at - b.at || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    const groups = new Map<string, ReactionSummary>();
    for (const r of list) {
      let g = groups.get(r.emoji);
      if (!g) groups.set(r.emoji, (g = { emoji: r.emoji, count: 0, users: [] }));
      g.count++;
      g.users.push(r.userId);
    }
    out.set(id, [...groups.values()]);
  }
  return out;
}

/** The message id an `edits` or `reactions` key names (the part before the first `|`). */
const keyMessage = (key: string): string => key.slice(0, key.indexOf('|'));

/**
 * Deletes what a document holds of the deleted messages `ids`: their records in `messages`,
 * their revisions and their reactions; canon and the markers stay. Run inside the caller's
 * transaction. With gc on, Yjs keeps only the deleted items' ids and lengths once it ends,
 * so no later encoding carries the text. The relay's live document and the store's merged
 * log rows (server/store/redaction-merge.ts) both go through this one function.
 */
export function removeRedacted(roots: Pick<ThreadRoots, 'messages' | 'edits' | 'reactions'>, ids: Iterable<string>): void {
  const gone = new Set(ids);
  if (gone.size === 0) return;
  // From the end: deleting shifts the indexes after it.
  const arr = roots.messages.toArray();
  for (let i = arr.length - 1; i >= 0; i--) if (gone.has(arr[i]!.id)) roots.messages.delete(i, 1);
  for (const root of [roots.edits, roots.reactions] as Array<{ keys(): IterableIterator<string>; delete(k: string): void }>) {
    for (const key of [...root.keys()]) if (gone.has(keyMessage(key))) root.delete(key);
  }
}

/**
 * Deleted messages (a marker in `redactions`) whose record, revisions or reactions the
 * document still holds: written by another relay instance after the purge it missed, or
 * merged back from a row stored before it. Empty in the common case (no markers: no scan).
 */
export function unpurged(roots: Pick<ThreadRoots, 'messages' | 'edits' | 'reactions' | 'redactions'>): string[] {
  const marked = roots.redactions;
  if (marked.size === 0) return [];
  const out = new Set<string>();
  roots.messages.forEach((m) => {
    if (marked.has(m.id)) out.add(m.id);
  });
  for (const root of [roots.edits, roots.reactions] as Array<{ keys(): IterableIterator<string> }>) {
    for (const key of root.keys()) if (marked.has(keyMessage(key))) out.add(keyMessage(key));
  }
  return [...out];
}

/** Whether a redaction marker says the message is deleted. */
export const isRedacted = (redactions: { has(id: string): boolean }, messageId: string): boolean => redactions.has(messageId);

export type { EditEntry, ReactionEntry, Redaction };
