/**
 * Canon of messages another instance stored. That instance writes their canon right after
 * its commit; when it dies in between (SIGKILL, crash), no one else would, and the messages
 * would stay without a visible seq on every other instance until the room reloads. So a room
 * that applied another instance's updates looks again after a grace period, and writes the
 * canon still missing from the store (the truth). Writing a canon entry the other instance
 * writes too is harmless: both come from the same row.
 */
import type { ThreadRoots } from '../../shared/schema.ts';
import type { Store, StoredMessage } from '../store/store.ts';

/** How long the instance that committed a message has to write its canon. */
export const CANON_GRACE_MS = 1000;

export class CanonWatch {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly check: () => void,
    private readonly graceMs = CANON_GRACE_MS,
  ) {}

  /** Another instance's updates were applied: check once the grace period is over. */
  poke(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, this.graceMs);
    this.timer.unref();
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Ids of messages in the document that have no canon and are not being committed here. */
export function missingCanon(roots: ThreadRoots, committing: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const m of roots.messages.toArray()) if (!roots.canon.has(m.id) && !committing.has(m.id)) out.push(m.id);
  return out;
}

/** The stored rows of `ids` (those the store has). */
export async function storedMessages(store: Store, threadId: string, ids: string[]): Promise<StoredMessage[]> {
  const rows = await Promise.all(ids.map((id) => store.getMessage(threadId, id)));
  return rows.filter((m): m is StoredMessage => m !== null);
}
