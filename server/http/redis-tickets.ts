/**
 * WebSocket tickets shared by every instance through Redis (used when the relay runs with
 * `SKEIN_REDIS_URL`): behind a load balancer a client's `POST /v1/tickets` and its socket may
 * reach different instances, and a ticket kept in one process's memory would be refused by the
 * other (4401, again and again). A ticket is one key with the ticket's lifetime as its expiry;
 * `GETDEL` spends it atomically, so it is valid exactly once across all instances.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { failFastRedis } from '../ops/redis-client.ts';
import type { Tickets } from './tickets.ts';

export class RedisTickets implements Tickets {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    readonly ttlMs: number,
    log: Logger,
  ) {
    // A ticket request while Redis is away fails at once (503); the SDK retries on its backoff.
    this.redis = failFastRedis(url, prefix, 'tickets', log);
  }

  /** Connects; the relay starts only once Redis answers (as the fan-out does). */
  async open(): Promise<this> {
    await this.redis.connect();
    return this;
  }

  private key(ticket: string): string {
    return `${this.prefix}ticket:${ticket}`;
  }

  async issue(userId: string): Promise<string> {
    const ticket = randomBytes(24).toString('base64url');
    await this.redis.set(this.key(ticket), userId, 'PX', this.ttlMs);
    return ticket;
  }

  async consume(ticket: string): Promise<string | null> {
    // Anything a client typed: only ticket-shaped values reach Redis.
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(ticket)) return null;
    try {
      return await this.redis.getdel(this.key(ticket));
    } catch {
      // Redis away: the socket is refused (4401) and the SDK fetches a fresh ticket later.
      return null;
    }
  }

  close(): void {
    this.redis.disconnect();
  }
}
