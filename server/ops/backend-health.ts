/**
 * Reachability of the services a relay instance depends on when it runs on PostgreSQL and
 * Redis (issue #13). While either is down the relay takes no writes (sync connections are
 * refused or closed with 4503): an update it took could not be stored (PostgreSQL) or could
 * not reach the other instances' peers (Redis). Recovery needs nothing from the operator:
 * PostgreSQL is probed until it answers again, the Redis client reconnects by itself and its
 * subscriber's reconnect makes every room catch up from the store.
 */
import type { Fanout, FanoutStatus } from '../fanout/fanout.ts';
import type { Logger } from './logger.ts';
import type { Store } from '../store/store.ts';

export type ServiceState = 'up' | 'down';

/** What `/v1/health` reports; a service the relay does not use is absent. */
export interface BackendReport {
  postgres?: ServiceState;
  redis?: ServiceState;
}

export interface BackendHealthOptions {
  store: Store;
  fanout: Fanout;
  /** Whether fan-out goes through Redis (SKEIN_REDIS_URL). */
  redis: boolean;
  log: Logger;
  /** How often PostgreSQL is probed, ms. */
  probeIntervalMs?: number;
  /** How long a probe may take before the database counts as down, ms. */
  probeTimeoutMs?: number;
}

export class BackendHealth {
  private postgres: ServiceState = 'up';
  private redisWas: FanoutStatus;
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<ServiceState> | null = null;
  private readonly probeTimeoutMs: number;

  constructor(private readonly opts: BackendHealthOptions) {
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
    this.redisWas = opts.fanout.status();
  }

  /** Starts probing PostgreSQL (a no-op for a store that cannot be unreachable). */
  start(): void {
    if (!this.opts.store.ping || this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.opts.probeIntervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** False while PostgreSQL (last probe) or Redis (its connections now) is down. */
  writable(): boolean {
    return this.postgres === 'up' && this.redisState() !== 'down';
  }

  /** Why writes are refused, for the close reason and the log. */
  unavailable(): string {
    const down = [this.postgres === 'down' ? 'postgres' : null, this.redisState() === 'down' ? 'redis' : null].filter(Boolean);
    return `backend unavailable: ${down.join(', ')}`;
  }

  /** Checks both now (PostgreSQL query, Redis PING), for `/v1/health`; updates the write gate. */
  async report(): Promise<BackendReport> {
    const [postgres, redis] = await Promise.all([
      this.opts.store.ping ? this.probe() : Promise.resolve(null),
      this.opts.redis ? this.opts.fanout.ping() : Promise.resolve(null),
    ]);
    return { ...(postgres ? { postgres } : {}), ...(redis ? { redis: redis === 'up' ? 'up' : 'down' } : {}) };
  }

  private redisState(): ServiceState {
    if (!this.opts.redis) return 'up';
    const now = this.opts.fanout.status();
    if (now !== this.redisWas) {
      this.opts.log.warn({ event: now === 'down' ? 'backend_down' : 'backend_up', service: 'redis' }, `redis ${now}`);
      this.redisWas = now;
    }
    return now === 'down' ? 'down' : 'up';
  }

  /** One PostgreSQL probe at a time; concurrent callers share it. */
  private probe(): Promise<ServiceState> {
    this.probing ??= (async () => {
      try {
        const next: ServiceState = (await this.opts.store.ping!(this.probeTimeoutMs)) ? 'up' : 'down';
        if (next !== this.postgres) {
          this.opts.log.warn({ event: next === 'down' ? 'backend_down' : 'backend_up', service: 'postgres' }, `postgres ${next}`);
          this.postgres = next;
        }
        return next;
      } finally {
        this.probing = null;
      }
    })();
    return this.probing;
  }
}
