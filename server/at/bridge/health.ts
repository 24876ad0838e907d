/**
 * What the write bridge reports about itself (capabilities, /v1/health, /metrics): login
 * state, the streak of failed calls, the outbox's depth and age, recent throughput.
 */
import type { AtRepoClient } from '../at-client.ts';
import type { AtprotoConfig } from '../../config/config.ts';
import type { FailureClass, RelayMetrics } from '../../ops/metrics.ts';
import type { OutboxStats, Store } from '../../store/store.ts';

/** What capabilities and /metrics report about the bridge. */
export interface BridgeStatus {
  loggedIn: boolean;
  /** Configured and still making its first login attempt: on, messages queue in the outbox. */
  starting: boolean;
  did: string | null;
  service: string;
  degraded: boolean;
  reason: string | null;
  queueDepth: number;
  oldestPendingAgeMs: number;
}

export class BridgeHealth {
  private consecutiveFailures = 0;
  private lastFailure: FailureClass | null = null;
  /** Whether a login attempt has finished (either way); until then the bridge is `starting`. */
  loginSettled = false;
  private stats: OutboxStats = { depth: 0, oldestEnqueuedAt: null };
  private recent: Array<{ at: number; n: number }> = [];

  constructor(private readonly d: { store: Store; client: AtRepoClient; metrics: RelayMetrics; opts: AtprotoConfig }) {}

  /** Failed calls since the last success (drives the retry delay and `pds_failing`). */
  get failures(): number {
    return this.consecutiveFailures;
  }

  noteFailure(cls: FailureClass): void {
    this.consecutiveFailures += 1;
    this.lastFailure = cls;
    this.d.metrics.bridgeFailures.inc({ class: cls }, 1);
  }

  noteSuccess(): void {
    this.consecutiveFailures = 0;
  }

  /** Records `n` records written to the PDS (the throughput gauge and counter). */
  noteWrites(n: number): void {
    this.d.metrics.bridgeWrites.inc(n);
    this.recent.push({ at: Date.now(), n });
  }

  /** Rereads the outbox's depth and age from the store. */
  async refreshStats(): Promise<void> {
    try {
      this.stats = await this.d.store.outboxStats();
    } catch {
      // store closing; keep the last figures
    }
  }

  /** Records written per second over the last 10 s. */
  writesPerSecond(): number {
    const since = Date.now() - 10_000;
    this.recent = this.recent.filter((r) => r.at >= since);
    return this.recent.reduce((s, r) => s + r.n, 0) / 10;
  }

  status(): BridgeStatus {
    const { client, opts } = this.d;
    const age = this.stats.oldestEnqueuedAt === null ? 0 : Math.max(0, Date.now() - this.stats.oldestEnqueuedAt);
    let reason: string | null = null;
    const starting = !client.loggedIn && !this.loginSettled;
    if (starting) reason = 'starting';
    else if (!client.loggedIn) reason = 'not_logged_in';
    else if (this.consecutiveFailures >= opts.failingAfter) reason = `pds_failing:${this.lastFailure}`;
    else if (age > opts.lagThresholdMs) reason = 'queue_lagging';
    return {
      loggedIn: client.loggedIn,
      starting,
      did: client.did,
      service: client.service,
      degraded: reason !== null,
      reason,
      queueDepth: this.stats.depth,
      oldestPendingAgeMs: age,
    };
  }
}
