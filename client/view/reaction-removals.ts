/**
 * Removed reactions, remembered until they cannot come back (docs/design/message-lifecycle.md,
 * "Offline across a roll"). Removing a reaction deletes its key: nothing is left in the
 * document to carry into a newer generation, and a roll made before the removal reached the
 * relay carries the reaction into the new one. So each removal is noted here (the SDK's
 * local store, shared by the tabs: one entry per reaction, so tabs never overwrite each
 * other's notes) with its time, and after every sync with the relay any of the user's
 * reactions at or before that time is removed again: last writer wins per key, a removal
 * included. A note is kept until a generation newer than the one it was made in has synced
 * (the roll it could have missed is behind it then).
 */
import type { ThreadRoots } from '../../shared/schema.ts';
import type { LocalStore } from '../local/local-store.ts';

interface Note {
  /** When the reaction was removed (the remover's clock, as reactions' `at`). */
  at: number;
  /** The generation the removal was written into. */
  generation: number;
}

export class ReactionRemovals {
  constructor(
    private readonly store: LocalStore,
    private readonly threadId: string,
  ) {}

  /** The kv key prefix of this thread's notes (`dropThread` deletes them with it). */
  static prefix(threadId: string): string {
    return `unreacted:${threadId}|`;
  }

  private key(reaction: string): string {
    return ReactionRemovals.prefix(this.threadId) + reaction;
  }

  /** Notes that the user removed reaction `key` at `at` in `generation`. */
  note(key: string, at: number, generation: number): Promise<void> {
    return this.store.put('kv', this.key(key), { at, generation } satisfies Note).catch(() => {});
  }

  /** The user added reaction `key` again: its removal is history. */
  forget(key: string): Promise<void> {
    return this.store.del('kv', this.key(key)).catch(() => {});
  }

  /**
   * After a sync of `generation` with the relay: removes again the user's reactions in `roots`
   * that a removal noted here outdates, in one transaction (`transact` answers false, writing
   * nothing, when `roots` is no longer the live generation's). Returns how many it removed.
   */
  async reapply(roots: ThreadRoots, generation: number, transact: (f: () => void) => boolean): Promise<number> {
    const prefix = ReactionRemovals.prefix(this.threadId);
    const notes = await this.store.entries<Note>('kv', prefix);
    if (notes.length === 0) return 0;
    const stale = notes
      .map(([k, n]) => [k.slice(prefix.length), n] as const)
      .filter(([key, n]) => {
        const cur = roots.reactions.get(key);
        return cur !== undefined && typeof cur.at === 'number' && cur.at <= n.at;
      });
    if (stale.length && !transact(() => stale.forEach(([key]) => roots.reactions.delete(key)))) return 0;
    // Made in an older generation: the roll it could have missed is behind this sync.
    await Promise.all(notes.filter(([, n]) => n.generation < generation).map(([k]) => this.store.del('kv', k).catch(() => {})));
    return stale.length;
  }
}
