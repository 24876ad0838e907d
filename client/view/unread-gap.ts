/**
 * Unread messages older than what a view holds: when the reader's position (`upTo`) is below
 * the oldest message loaded, the messages in between are not on this device. The relay counts
 * the others' ones among them once per read position; until it answers (or offline) the
 * count is an upper bound: every message in the gap.
 */
import { unreadCount } from './receipts.ts';

type Canonical = ReadonlyArray<{ authorId: string; seq: number }>;

export class UnreadGap {
  /** The relay's count of others' messages with `upTo < seq < before`. */
  private known: { upTo: number; before: number; count: number } | null = null;
  private asked: string | null = null;

  constructor(
    /** Others' messages with `afterSeq < seq < beforeSeq`, from the relay (null: no relay). */
    private readonly ask: ((afterSeq: number, beforeSeq: number) => Promise<number>) | null,
    private readonly changed: () => void,
  ) {}

  /** Unread messages by others than `userId` after `upTo`, given the canonical ones held (ascending). */
  count(canonical: Canonical, userId: string, upTo: number, lowest: number): number {
    if (lowest - 1 <= upTo) return unreadCount(canonical, userId, upTo);
    const k = this.known;
    if (k && k.upTo === upTo && k.before >= lowest) {
      // Everything at or above `before` is held here (the window only grows downwards).
      return k.count + unreadCount(canonical.filter((m) => m.seq >= k.before), userId, upTo);
    }
    this.request(upTo, lowest);
    return unreadCount(canonical, userId, upTo) + (lowest - 1 - upTo);
  }

  private request(upTo: number, before: number): void {
    const key = `${upTo}:${before}`;
    if (!this.ask || this.asked === key) return;
    this.asked = key;
    this.ask(upTo, before).then(
      (count) => {
        this.known = { upTo, before, count };
        this.changed();
      },
      () => {
        /* offline: the upper bound stays until the window or the read position moves */
      },
    );
  }
}
