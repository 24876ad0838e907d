/**
 * Budgets a member spends in a thread, kept by the relay rather than by a connection or a
 * room (issue 28): reconnecting, opening more sockets, or the room unloading and loading
 * again, starts nothing afresh. Per user and thread: live messages, offline-backlog messages
 * and awareness (count and bytes);
 * per thread: the time of its last generation roll. One instance's view (with several
 * instances a member's budget is per instance it reaches).
 */
import { KeyedBuckets, type TokenBucket } from '../ops/rate-limit.ts';

export interface MeterLimits {
  /** Live (non-backlog) messages per second per user and thread. */
  messagesPerSecond: number;
  /** Live messages one user may send into one thread at once before that rate applies. */
  messageBurst: number;
  /** Backlog messages one user may have taken into one thread at once. */
  backlogBudget: number;
  /** Refill of the backlog budget, messages per second. */
  backlogPerSecond: number;
  /** Awareness updates per second per user and thread (burst: twice as many). */
  awarenessPerSecond: number;
  /** Awareness bytes per second per user and thread (burst: twice as many). */
  awarenessBytesPerSecond: number;
  /** Least time between two rolls of one thread, ms. */
  rollMinIntervalMs: number;
}

export const DEFAULT_METER_LIMITS: MeterLimits = {
  messagesPerSecond: 20,
  messageBurst: 100,
  backlogBudget: 1000,
  backlogPerSecond: 5,
  awarenessPerSecond: 10,
  awarenessBytesPerSecond: 16_384,
  rollMinIntervalMs: 1000,
};

const key = (threadId: string, userId: string) => `${threadId}\u0000${userId}`;

export class ThreadMeters {
  private readonly messages: KeyedBuckets;
  private readonly backlogs: KeyedBuckets;
  private readonly awarenessCounts: KeyedBuckets;
  private readonly awarenessBytes: KeyedBuckets;
  /** Thread → when it last rolled (performance.now()); forgotten once the interval passed. */
  private readonly rolls = new Map<string, number>();

  constructor(
    readonly limits: MeterLimits = DEFAULT_METER_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.messages = new KeyedBuckets(limits.messagesPerSecond, limits.messageBurst, 10_000, now);
    this.backlogs = new KeyedBuckets(limits.backlogPerSecond, limits.backlogBudget, 10_000, now);
    this.awarenessCounts = new KeyedBuckets(limits.awarenessPerSecond, 2 * limits.awarenessPerSecond, 10_000, now);
    this.awarenessBytes = new KeyedBuckets(limits.awarenessBytesPerSecond, 2 * limits.awarenessBytesPerSecond, 10_000, now);
  }

  /**
   * Charges `n` live messages of `userId` in `threadId`: all the user's sockets to the thread
   * draw on one bucket, so opening more of them buys no more rate. False when over it.
   */
  takeMessages(threadId: string, userId: string, n: number): boolean {
    return this.messages.get(key(threadId, userId)).take(n);
  }

  /** The offline-backlog budget of `userId` in `threadId`. */
  backlog(threadId: string, userId: string): TokenBucket {
    return this.backlogs.get(key(threadId, userId));
  }

  /**
   * How long a peer whose backlog still holds `remaining` messages should wait before it
   * reconnects: until a quarter of the budget (or all it has left) is there again.
   */
  backlogRetryMs(threadId: string, userId: string, remaining: number): number {
    const want = Math.max(1, Math.min(remaining, Math.ceil(this.limits.backlogBudget / 4)));
    return Math.max(100, Math.ceil(this.backlog(threadId, userId).waitMs(want)));
  }

  /** Charges one awareness change of `bytes`; false when the user is over either rate. */
  takeAwareness(threadId: string, userId: string, bytes: number): boolean {
    const k = key(threadId, userId);
    const size = this.awarenessBytes.get(k);
    // A single update larger than the burst could never pass: the frame limit bounds it instead.
    const cost = Math.min(bytes, 2 * this.limits.awarenessBytesPerSecond);
    if (size.waitMs(cost) > 0) return false;
    if (!this.awarenessCounts.get(k).take()) return false;
    size.take(cost);
    return true;
  }

  /** Milliseconds before `threadId` may roll again (0: now). */
  rollWaitMs(threadId: string): number {
    const last = this.rolls.get(threadId);
    if (last === undefined) return 0;
    const wait = last + this.limits.rollMinIntervalMs - this.now();
    if (wait <= 0) this.rolls.delete(threadId);
    return Math.max(0, Math.ceil(wait));
  }

  /** Records that `threadId` rolled now. */
  rolled(threadId: string): void {
    if (this.limits.rollMinIntervalMs <= 0) return;
    if (this.rolls.size >= 10_000) for (const t of [...this.rolls.keys()]) this.rollWaitMs(t);
    this.rolls.set(threadId, this.now());
  }
}
