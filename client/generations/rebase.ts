/**
 * Moving a thread view's local work from a sealed generation into the live one
 * (docs/design/windowed-threads.md, invariant 4): what the sealed copy knew becomes local
 * history, the canonical history after its last known seq is fetched (only that range),
 * and its pending messages the relay does not have are appended again — same id, same
 * record — into the new live document. The relay dedups by id across generations, so a
 * message it had sequenced just before the roll (canon never seen here) still shows once.
 * This user's edits, deletion markers and reactions go along (lifecycle-carry.ts).
 */
import * as Y from 'yjs';
import { recordsToReappend } from '../../shared/window-rules.ts';
import { type MessageRecord, parseReceiptKey } from '../../shared/schema.ts';
import type { SealedMessage } from '../history/history-page.ts';
import type { HistoryWindow } from '../history/history-window.ts';
import type { LiveGeneration } from './live-generation.ts';
import { writeReceipt } from '../view/receipts.ts';
import { carryLifecycle } from './lifecycle-carry.ts';
import { parseEditKey } from '../../shared/message-lifecycle.ts';

/** Most messages a rebase fetches to learn which pending ids the relay already has. */
const MAX_REBASE_FETCH = 10_000;

/** What `prepareRebase` learned; `applyRebase` uses it synchronously. */
export interface RebasePlan {
  /** Ids the relay has sequenced after the sealed copy's last known seq. */
  relayIds: Set<string>;
  /** Authors of the sealed messages `old`'s revisions name, as the history window knows them. */
  authors: Map<string, string>;
  /** The relay's state vector of `old`'s generation at the roll (what it saw), when it told. */
  sealed: Map<number, number> | null;
}

/** Asks the relay for a sealed generation's state vector (throws when it has none or is unreachable). */
export type SealedStateFetch = (generation: number) => Promise<Uint8Array>;

/** The async part: stores what `old` knew as history and fetches the missing range up to `next`'s baseSeq. */
export async function prepareRebase(old: LiveGeneration, next: LiveGeneration, history: HistoryWindow, knownMaxSeq: number, sealedState?: SealedStateFetch): Promise<RebasePlan> {
  const baseSeq = next.baseSeq;
  const sealed: SealedMessage[] = [];
  let lastKnown = knownMaxSeq;
  const canon = old.roots.canon;
  // The sealed copy's receipts go with its messages (the relay folded the same ones).
  const readBy = new Map<string, Record<string, number>>();
  for (const [key, r] of old.roots.receipts.entries()) {
    const k = parseReceiptKey(key);
    if (!k || typeof r?.readAt !== 'number') continue;
    const m = readBy.get(k.messageId) ?? {};
    m[k.userId] = Math.max(m[k.userId] ?? 0, r.readAt);
    readBy.set(k.messageId, m);
  }
  for (const r of old.roots.messages.toArray()) {
    const c = r && typeof r.id === 'string' ? canon.get(r.id) : undefined;
    if (!c || typeof c.seq !== 'number') continue;
    if (c.seq > lastKnown) lastKnown = c.seq;
    if (c.seq > baseSeq) continue;
    const m: SealedMessage = { ...r, ...c };
    const by = readBy.get(r.id);
    if (by) m.readBy = by;
    sealed.push(m);
  }
  await history.remember(sealed);
  const relayIds = new Set<string>();
  // Only pending records (no canon) need the relay's ids; without any (e.g. a cold open that
  // met a rolled thread) nothing is fetched, so the cost never follows the history's length.
  const pending = old.roots.messages.toArray().some((r) => r && typeof r.id === 'string' && !canon.has(r.id));
  // Past a few generations, asking is dearer than resending: the relay dedups by id anyway.
  if (pending && baseSeq > lastKnown && baseSeq - lastKnown <= MAX_REBASE_FETCH) {
    // Offline failure is fine: every pending record is then re-appended and the relay dedups.
    const fetched = await history.fetchAfter(lastKnown, baseSeq).catch(() => []);
    for (const m of fetched) relayIds.add(m.id);
  }
  const authors = new Map<string, string>();
  for (const key of old.roots.edits.keys()) {
    const id = parseEditKey(key)?.messageId;
    const author = id === undefined ? undefined : history.get(id)?.authorId;
    if (author !== undefined) authors.set(id!, author);
  }
  // Which of `old`'s lifecycle entries the relay saw: only the others need carrying. Unknown
  // (offline, an older relay): every own entry is carried, which the carry's rules make safe.
  let seen: Map<number, number> | null = null;
  const r = old.roots;
  if (sealedState && old.info.generation < next.info.generation && r.edits.size + r.redactions.size + r.reactions.size > 0) {
    seen = await sealedState(old.info.generation).then(Y.decodeStateVector, () => null);
  }
  return { relayIds, authors, sealed: seen };
}

/**
 * The sync part, run in the same task as the switch to `next` (so no send lands in `old`
 * after it): appends `old`'s pending records `next` needs, this user's newest receipt
 * when `next` has an older one, and this user's lifecycle entries `next` lacks. Returns the
 * records appended.
 */
export function applyRebase(old: LiveGeneration, next: LiveGeneration, plan: RebasePlan, userId: string, origin: unknown): MessageRecord[] {
  const liveIds = new Set(next.roots.messages.toArray().map((m) => m?.id));
  const oldCanon = old.roots.canon;
  const records = recordsToReappend(old.roots.messages.toArray(), (id) => oldCanon.has(id), (id) => plan.relayIds.has(id), (id) => liveIds.has(id));
  const newest = newestReceipt(old.roots.receipts, userId);
  const authors = new Map(plan.authors);
  for (const r of old.roots.messages.toArray()) if (r && typeof r.id === 'string') authors.set(r.id, r.authorId);
  next.doc.transact(() => {
    if (records.length) next.roots.messages.insert(next.roots.messages.length, records);
    if (newest) writeReceipt(next.roots.receipts, newest.messageId, userId, newest.readAt);
    // After the records: an edit of a re-appended message names its author in the same update.
    const sealed = plan.sealed;
    carryLifecycle(old.roots, next.roots, userId, (id) => authors.get(id), sealed ? (client, clock) => clock < (sealed.get(client) ?? 0) : undefined);
  }, origin);
  return records;
}

function newestReceipt(receipts: Y.Map<{ readAt: number }>, userId: string): { messageId: string; readAt: number } | null {
  let best: { messageId: string; readAt: number } | null = null;
  for (const [key, r] of receipts.entries()) {
    const k = parseReceiptKey(key);
    if (!k || k.userId !== userId || typeof r?.readAt !== 'number') continue;
    if (!best || r.readAt > best.readAt) best = { messageId: k.messageId, readAt: r.readAt };
  }
  return best;
}
