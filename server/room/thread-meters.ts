/**
 * Budgets a member spends in a thread, kept by the relay rather than by a connection or a
 * room (issue 28): reconnecting, opening more sockets, or the room unloading and loading
 * again, starts nothing afresh. Per user and thread: live messages, offline-backlog messages
 * and awareness (count and bytes);
 * per thread: the time of its last generation roll. One instance's view, but for the
 * offline-backlog budget, which several instances share through Redis when they have it
 * (`SharedBacklogBudget`, server/fanout/redis-backlog-budget.ts): a user reconnecting to
 * another instance would otherwise get another budget there.
 */
import { KeyedBuckets } from '../ops/rate-limit.ts';

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

/** The offline-backlog budget kept for every instance (one bucket per user and thread). */
export interface SharedBacklogBudget {
  /** Takes every whole message the user's budget in the thread holds now; resolves with how many (0 when unreachable). */
  reserve(threadId: string, userId: string): Promise<number>;
  /** Gives back what a reservation did not use. */
  refund(threadId: string, userId: string, n: number): void;
}

export class ThreadMeters {
  private readonly messages: KeyedBuckets;
  private readonly backlogs: KeyedBuckets;
  private readonly awarenessCounts: KeyedBuckets;
  private readonly awarenessBytes: KeyedBuckets;
  /** Thread → when it last rolled (performance.now()); forgotten once the interval passed. */
  private readonly rolls = new Map<string, number>();
  /** With a shared budget: what this instance reserved of it for backlogs being admitted. */
  private readonly grants = new Map<string, number>();

  constructor(
    readonly limits: MeterLimits = DEFAULT_METER_LIMITS,
    private readonly now: () => number = () => performance.now(),
    /** The backlog budget of every instance (Redis); null: this instance keeps its own. */
    readonly shared: SharedBacklogBudget | null = null,
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

  /** Backlog messages `userId` may have taken into `threadId` now (with a shared budget: what was reserved). */
  backlogAvailable(threadId: string, userId: string): number {
    const k = key(threadId, userId);
    return this.shared ? (this.grants.get(k) ?? 0) : this.backlogs.get(k).available;
  }

  /** Charges `n` backlog messages; false (charging nothing) when over the budget. */
  takeBacklog(threadId: string, userId: string, n: number): boolean {
    const k = key(threadId, userId);
    if (!this.shared) return this.backlogs.get(k).take(n);
    const granted = this.grants.get(k) ?? 0;
    if (n > granted) return false;
    this.grants.set(k, granted - n);
    return true;
  }

  /** Before a backlog is admitted: with a shared budget, reserves all of it that is there. */
  async reserveBacklog(threadId: string, userId: string): Promise<void> {
    if (!this.shared) return;
    const n = await this.shared.reserve(threadId, userId);
    const k = key(threadId, userId);
    if (this.grants.size >= 10_000 && !this.grants.has(k)) this.grants.clear(); // only leaks (closed peers) pile up
    this.grants.set(k, (this.grants.get(k) ?? 0) + n);
  }

  /** After a backlog was admitted (or refused): gives back to the shared budget what it did not use. */
  releaseBacklog(threadId: string, userId: string): void {
    if (!this.shared) return;
    const k = key(threadId, userId);
    const left = this.grants.get(k) ?? 0;
    this.grants.delete(k);
    if (left > 0) this.shared.refund(threadId, userId, left);
  }

  /**
   * How long a peer whose backlog still holds `remaining` messages should wait before it
   * reconnects: until a quarter of the budget (or all it has left) is there again. With a
   * shared budget, as if none were left (what other instances spend is not known here).
   */
  backlogRetryMs(threadId: string, userId: string, remaining: number): number {
    const want = Math.max(1, Math.min(remaining, Math.ceil(this.limits.backlogBudget / 4)));
    const wait = this.shared ? (want / this.limits.backlogPerSecond) * 1000 : this.backlogs.get(key(threadId, userId)).waitMs(want);
    return Math.max(100, Math.ceil(wait));
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
