/**
 * Removed reactions, remembered until they cannot come back (docs/design/message-lifecycle.md,
 * "Offline across a roll"). Removing a reaction deletes its key: nothing is left in the
 * document to carry into a newer generation, and a roll made before the removal reached the
 * relay carries the reaction into the new one. So each removal is noted here (the SDK's
 * local store, shared by the tabs) with its time, and after every sync with the relay any
 * of the user's reactions at or before that time is removed again: last writer wins per key,
 * a removal included. A note is kept until a generation newer than the one it was made in
 * has synced (the roll it could have missed is behind it then), at most `MAX_NOTES` per thread.
 */
import type { ThreadRoots } from '../../shared/schema.ts';
import type { LocalStore } from '../local/local-store.ts';

/** Most removals remembered per thread (the oldest are forgotten first). */
const MAX_NOTES = 500;

interface Note {
  /** When the reaction was removed (the remover's clock, as reactions' `at`). */
  at: number;
  /** The generation the removal was written into. */
  generation: number;
}

export class ReactionRemovals {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: LocalStore,
    private readonly threadId: string,
  ) {}

  private get key(): string {
    return `unreacted:${this.threadId}`;
  }

  /** Notes that the user removed reaction `key` at `at` in `generation`. */
  note(key: string, at: number, generation: number): Promise<void> {
    return this.update((notes) => {
      notes[key] = { at, generation };
      const keys = Object.keys(notes);
      if (keys.length > MAX_NOTES) {
        keys.sort((a, b) => notes[a]!.at - notes[b]!.at);
        for (const k of keys.slice(0, keys.length - MAX_NOTES)) delete notes[k];
      }
      return true;
    });
  }

  /** The user added reaction `key` again: its removal is history. */
  forget(key: string): Promise<void> {
    return this.update((notes) => (key in notes ? (delete notes[key], true) : false));
  }

  /**
   * After a sync of `generation` with the relay: removes again the user's reactions in `roots`
   * that a removal noted here outdates, in one transaction (`transact` answers false, writing
   * nothing, when `roots` is no longer the live generation's). Returns how many it removed.
   */
  async reapply(roots: ThreadRoots, generation: number, transact: (f: () => void) => boolean): Promise<number> {
    let removed = 0;
    await this.update((notes) => {
      const stale = Object.entries(notes).filter(([key, n]) => {
        const cur = roots.reactions.get(key);
        return cur !== undefined && typeof cur.at === 'number' && cur.at <= n.at;
      });
      if (stale.length) {
        const done = transact(() => {
          for (const [key] of stale) roots.reactions.delete(key);
        });
        if (!done) return false;
        removed = stale.length;
      }
      let changed = false;
      for (const [key, n] of Object.entries(notes)) {
        if (n.generation < generation) {
          delete notes[key];
          changed = true;
        }
      }
      return changed;
    });
    return removed;
  }

  /** Read-modify-write of this thread's notes, serialized within the tab; `f` says whether to write. */
  private update(f: (notes: Record<string, Note>) => boolean): Promise<void> {
    const run = this.chain.then(async () => {
      const notes = (await this.store.get<Record<string, Note>>('kv', this.key).catch(() => undefined)) ?? {};
      if (!f(notes)) return;
      if (Object.keys(notes).length === 0) await this.store.del('kv', this.key).catch(() => {});
      else await this.store.put('kv', this.key, notes).catch(() => {});
    });
    this.chain = run.catch(() => {});
    return run;
  }
}
