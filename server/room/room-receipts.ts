/**
 * A per-user bound on the receipts a live document holds (issue 28): receipts are the one
 * thing a member may write without bound in number (any message id, any time), and every
 * member's full sync carries them all. Past `perUser` keys, the relay removes the user's
 * receipts of the oldest messages (its newest ones, and so its read-up-to position, stay),
 * as a relay change on the commit path. Counts follow what this room admitted and removed.
 */
import type { ThreadRoots } from '../../shared/schema.ts';
import { parseReceiptKey } from '../../shared/schema.ts';
import { readAtOf } from './room-types.ts';

export const DEFAULT_MAX_RECEIPTS_PER_USER = 2000;

export class ReceiptBudget {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly roots: ThreadRoots,
    readonly perUser: number,
  ) {
    for (const key of roots.receipts.keys()) {
      const k = parseReceiptKey(key);
      if (k) this.add(k.userId, 1);
    }
  }

  /** `user` has `n` more receipt keys (admitted and committed). */
  add(user: string, n: number): void {
    this.counts.set(user, (this.counts.get(user) ?? 0) + n);
  }

  /** Whether `user` holds more keys than the bound. */
  over(user: string): boolean {
    return (this.counts.get(user) ?? 0) > this.perUser;
  }

  /**
   * Removes `user`'s receipts beyond the bound, those of the lowest seqs first (receipts of
   * messages this document does not sequence rank lowest), then the oldest `readAt`.
   * Run inside a relay transaction.
   */
  prune(user: string): void {
    const { receipts, canon } = this.roots;
    const mine: Array<{ key: string; rank: number; readAt: number }> = [];
    for (const [key, value] of receipts.entries()) {
      const k = parseReceiptKey(key);
      if (k?.userId !== user) continue;
      mine.push({ key, rank: canon.get(k.messageId)?.seq ?? -1, readAt: readAtOf(value) });
    }
    mine.sort((a, b) => a.rank - b.rank || a.readAt - b.readAt);
    const extra = mine.length - this.perUser;
    for (let i = 0; i < extra; i++) receipts.delete(mine[i]!.key);
    this.counts.set(user, Math.min(mine.length, this.perUser));
  }
}
