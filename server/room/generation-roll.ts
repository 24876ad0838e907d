/**
 * Rolling a thread's live document into a new generation (docs/data-model.md, "Windowed
 * threads"). Pure: what the new generation starts with, and which receipts are folded
 * into the relational table. The room (thread-room.ts) decides when and stores it.
 */
import * as Y from 'yjs';
import { type ThreadRoots, parseReceiptKey, threadRoots } from '../../shared/schema.ts';
import type { FoldedReceipt } from '../store/store.ts';
import { readAtOf } from './room-types.ts';

export interface NextGeneration {
  /** First state of the new live document: each member's newest receipt, carried over. */
  snapshot: Uint8Array;
  /** Every receipt of the sealed generation, kept relationally (latest `readAt` wins). */
  receipts: FoldedReceipt[];
}

/**
 * True when the live document holds enough messages of its own generation to seal, and
 * nothing is mid-stream. A record whose seq is at or below `baseSeq` (an author re-appending
 * messages a sealed generation already holds) does not count: re-appends cannot force a roll.
 */
export function shouldRoll(roots: ThreadRoots, generationMessages: number, baseSeq = 0): boolean {
  if (generationMessages <= 0 || roots.messages.length < generationMessages) return false;
  for (const s of roots.streams.values()) {
    // A stream's text belongs to its author's client: it cannot be carried over, so wait.
    if (s.status === 'streaming') return false;
  }
  let fresh = 0;
  for (const m of roots.messages) {
    const seq = roots.canon.get(m.id)?.seq;
    if (seq === undefined || seq > baseSeq) fresh++;
  }
  return fresh >= generationMessages;
}

/**
 * Folds the live document's receipts and carries, per user, the receipt of the message
 * with the highest seq (read-up-to survives the roll). Receipts whose message has no canon
 * here (carried from an older generation) rank below any that has one.
 */
export function nextGeneration(roots: ThreadRoots): NextGeneration {
  const receipts: FoldedReceipt[] = [];
  const newest = new Map<string, { key: string; rank: number; readAt: number }>();
  for (const [key, value] of roots.receipts.entries()) {
    const k = parseReceiptKey(key);
    const readAt = readAtOf(value);
    if (!k || readAt === -Infinity) continue;
    receipts.push({ messageId: k.messageId, userId: k.userId, readAt });
    const rank = roots.canon.get(k.messageId)?.seq ?? -1;
    const best = newest.get(k.userId);
    if (!best || rank > best.rank || (rank === best.rank && readAt > best.readAt)) newest.set(k.userId, { key, rank, readAt });
  }
  const doc = new Y.Doc();
  const next = threadRoots(doc);
  doc.transact(() => {
    for (const { key, readAt } of newest.values()) next.receipts.set(key, { readAt });
    // Revisions, reactions and deletion markers are not folded into rows yet
    // (design/message-lifecycle.md, "Generations"): the next generation carries them, so a
    // sealed message keeps its edits and reactions.
    for (const [key, v] of roots.edits.entries()) next.edits.set(key, v);
    for (const [key, v] of roots.reactions.entries()) next.reactions.set(key, v);
    for (const [key, v] of roots.redactions.entries()) next.redactions.set(key, v);
  });
  const snapshot = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return { snapshot, receipts };
}
