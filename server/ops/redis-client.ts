/**
 * A Redis connection that fails fast while Redis is away (no offline queue, no retries of a
 * command), reconnecting in the background, and logs only an error's code (an error may
 * quote the URL). Used where a late answer is worse than none: tickets, shared budgets.
 */
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/** A lazily connecting client named `<prefix><conn>`; call `connect()` on it. */
export function failFastRedis(url: string, prefix: string, conn: string, log: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    connectionName: `${prefix}${conn}`.replace(/\s/g, '_'),
  });
  redis.on('error', (err: Error) => log.warn({ event: 'redis_error', conn, code: (err as { code?: string }).code ?? null }, 'redis connection error'));
  return redis;
}
