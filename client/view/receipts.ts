/**
 * Read receipts: writing one (never backwards) and deriving who read what, each
 * member's read-up-to position and the unread count from the `receipts` map.
 */
import type * as Y from 'yjs';
import { type Receipt, parseReceiptKey, receiptKey } from '../../shared/schema.ts';

export interface ReadInfo {
  userId: string;
  readAt: number;
}

export interface ReceiptIndex {
  /** messageId → readers, oldest read first. */
  readers: Map<string, ReadInfo[]>;
  /** userId → highest seq that user has a receipt for (0 when none). */
  readUpTo: Map<string, number>;
}

/**
 * Writes `userId`'s receipt for `messageId` unless one with the same or a later time
 * exists (a receipt never moves backwards). Returns true when it wrote.
 */
export function writeReceipt(receipts: Y.Map<Receipt>, messageId: string, userId: string, now = Date.now()): boolean {
  const key = receiptKey(messageId, userId);
  const prev = receipts.get(key);
  if (prev && prev.readAt >= now) return false;
  receipts.set(key, { readAt: now });
  return true;
}

/** Builds the index; `seqOf` gives a message's canonical seq (undefined while pending). */
export function indexReceipts(
  entries: Iterable<[string, Receipt]>,
  seqOf: (messageId: string) => number | undefined,
): ReceiptIndex {
  const readers = new Map<string, ReadInfo[]>();
  const readUpTo = new Map<string, number>();
  for (const [key, r] of entries) {
    const k = parseReceiptKey(key);
    if (!k || typeof r?.readAt !== 'number') continue;
    let list = readers.get(k.messageId);
    if (!list) readers.set(k.messageId, (list = []));
    list.push({ userId: k.userId, readAt: r.readAt });
    const seq = seqOf(k.messageId);
    if (seq !== undefined && seq > (readUpTo.get(k.userId) ?? 0)) readUpTo.set(k.userId, seq);
  }
  for (const list of readers.values()) list.sort((a, b) => a.readAt - b.readAt);
  return { readers, readUpTo };
}

/**
 * Canonical messages after `userId`'s read-up-to position that someone else wrote.
 * `canonical` must be in seq order.
 */
export function unreadCount(
  canonical: ReadonlyArray<{ authorId: string; seq: number }>,
  userId: string,
  upTo: number,
): number {
  let n = 0;
  // Walk from the end: unread messages are the newest ones.
  for (let i = canonical.length - 1; i >= 0; i--) {
    const m = canonical[i]!;
    if (m.seq <= upTo) break;
    if (m.authorId !== userId) n++;
  }
  return n;
}
