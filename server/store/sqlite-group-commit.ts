/**
 * Group commit for the SQLite store: writes made during one event-loop turn (or one commit
 * window) share one transaction, so one fsync, each in a savepoint of its own so one
 * thread's failure does not undo another's. With a WalDurability, the transaction commits
 * without a sync and each write's promise resolves only once the commit is on disk.
 */
import type Database from 'better-sqlite3';
import type { WalDurability } from './sqlite-durability.ts';

interface Pending {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private group: Pending[] = [];
  /**
   * Runs its argument in a transaction, or in a savepoint inside one. Made once: each
   * `db.transaction(fn)` builds four wrapper functions and defines their properties, which
   * per commit cost more than the savepoint itself.
   */
  private readonly inTransaction: (work: () => unknown) => unknown;

  /**
   * @param windowMs How long a group waits for more work before it runs, ms. 0: work of the
   *   same event-loop turn shares one transaction.
   * @param durability When set, results are handed out only after the commit's fdatasync.
   * @param onAbort Called when a group's transaction rolled back as a whole (state held in
   *   memory about what it wrote must be dropped).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly windowMs: number,
    private readonly durability: WalDurability | null = null,
    private readonly onAbort: () => void = () => {},
  ) {
    this.inTransaction = db.transaction((work: () => unknown) => work());
  }

  /** Runs `work` in this turn's shared transaction, in a savepoint of its own. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ run: work, resolve: resolve as (v: unknown) => void, reject });
      if (this.group.length === 1) {
        // Nothing committed now could be handed out before the next fdatasync anyway: commit
        // when the one in flight completes, with whatever arrived meanwhile (fewer, larger
        // transactions; the wait adds only the transaction's own time).
        if (this.durability?.syncing) this.durability.afterSync(() => this.commit());
        else if (this.windowMs > 0) setTimeout(() => this.commit(), this.windowMs);
        else setImmediate(() => this.commit());
      }
    });
  }

  private commit(): void {
    const group = this.group;
    this.group = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    // Alone in its transaction, a failing item rolls back only itself: no savepoint needed.
    if (group.length === 1) {
      const g = group[0]!;
      try {
        outcomes.push({ ok: true, value: this.inTransaction(g.run) });
      } catch (error) {
        this.onAbort();
        g.reject(error);
        return;
      }
      return this.settle(group, outcomes);
    }
    try {
      this.inTransaction(() => {
        for (const g of group) {
          try {
            outcomes.push({ ok: true, value: this.inTransaction(g.run) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      this.onAbort();
      for (const g of group) g.reject(error);
      return;
    }
    this.settle(group, outcomes);
  }

  /** Hands out the outcomes of a committed group: results once they are durable. */
  private settle(group: Pending[], outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>): void {
    const hand = (durableError: unknown) =>
      group.forEach((g, i) => {
        const o = outcomes[i]!;
        if (!o.ok) g.reject(o.error);
        else if (durableError !== undefined) g.reject(durableError);
        else g.resolve(o.value);
      });
    if (!this.durability) return hand(undefined);
    this.durability.committedNow().then(
      () => hand(undefined),
      (err: unknown) => hand(err ?? new Error('fdatasync failed')),
    );
  }
}
