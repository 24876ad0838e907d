/**
 * The policy of the `receipts` root: a peer writes (or deletes) only its own receipts, one
 * valid value per key; the verdict reports the highest new `readAt` per key.
 */
import { ID_PATTERN, parseReceiptKey, validateReceipt } from '../../../shared/schema.ts';
import { type PolicyContext, PolicyError, refuse } from './verdict.ts';

/** Throws unless `key` is a well-formed receipt key of the connected user. */
export function checkReceiptKey(ctx: PolicyContext, key: string): void {
  const k = parseReceiptKey(key);
  if (!k || !ID_PATTERN.test(k.messageId)) throw new PolicyError(refuse('malformed receipt key'));
  if (k.userId !== ctx.userId) throw new PolicyError(refuse('receipt for another user'));
}

/** The `readAt` of a written receipt entry (the content of one Yjs item), or throws. */
export function receiptReadAt(arr: unknown[]): number {
  if (arr.length !== 1) throw new PolicyError(refuse('malformed receipt entry'));
  const v = validateReceipt(arr[0]);
  if (!v.ok) throw new PolicyError(refuse(v.reason));
  return (arr[0] as { readAt: number }).readAt;
}

/** Records that the update touches `key`: keeps the highest `readAt`; null (only deleted) never lowers one. */
export function noteReceipt(receipts: Map<string, number | null>, key: string, readAt: number | null): void {
  const prev = receipts.get(key);
  if (readAt === null) {
    if (!receipts.has(key)) receipts.set(key, null);
  } else {
    receipts.set(key, prev == null ? readAt : Math.max(prev, readAt));
  }
}
