/**
 * The PDS's write budget as its rate-limit headers announce it: how many records the bridge
 * may send now, or how long to wait for the window to reset. Batches never exceed what is
 * left (SKEIN_BRIDGE_WRITE_COST points per created record).
 */
import type { RateLimitInfo } from '../at-client.ts';

/** Slack after the announced reset before the new window is trusted. */
export const RESET_MARGIN_MS = 100;

export class WriteBudget {
  private budget: RateLimitInfo | null = null;

  constructor(private readonly writeCost: number) {}

  /**
   * Records this many writes may be sent at `now` (at most `max`), or `{ waitMs }` until the
   * window resets (at most `maxWaitMs`).
   */
  allowance(now: number, max: number, maxWaitMs: number): { writes: number } | { waitMs: number } {
    const b = this.budget;
    if (!b) return { writes: max };
    if (now >= b.resetAt + RESET_MARGIN_MS) {
      // A new window: its budget is the announced limit until a response says otherwise.
      this.budget = b.limit === null ? null : { limit: b.limit, remaining: b.limit, resetAt: Infinity };
      if (!this.budget) return { writes: max };
    }
    const affordable = Math.floor(this.budget!.remaining / this.writeCost);
    if (affordable < 1) return { waitMs: Math.min(this.budget!.resetAt + RESET_MARGIN_MS - now, maxWaitMs) };
    return { writes: Math.min(max, affordable) };
  }

  /** After a response: its rate-limit headers are the budget; none on a success means no limit. */
  note(rl: RateLimitInfo | null, success: boolean): void {
    if (rl) this.budget = rl;
    else if (success) this.budget = null;
  }

  /** A 429: nothing left until `resetAt`. */
  exhausted(limit: number | null, resetAt: number): void {
    this.budget = { limit, remaining: 0, resetAt };
  }
}
