/**
 * The offline-backlog budget shared by every instance through Redis (issue 28): with one
 * budget per instance, a user reconnecting to each of N instances in turn got N budgets. Used
 * when the relay runs with `SKEIN_REDIS_URL`. A backlog is rare (once per reconnect) and
 * checked once, so one round trip before it and one (unawaited) after it are affordable.
 *
 * One hash per user and thread holds the bucket (tokens, time of the last change), changed
 * only by a Lua script, atomically, on Redis's clock: a reservation takes every whole token
 * the bucket holds, so two instances admitting backlogs of one user at once cannot both spend
 * the same tokens; what a backlog did not use is given back. The key expires once the bucket
 * would be full again (a missing bucket is a full one).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../ops/logger.ts';
import { failFastRedis } from '../ops/redis-client.ts';
import type { SharedBacklogBudget } from '../room/thread-meters.ts';

// KEYS[1]: the bucket; ARGV: rate (tokens per ms), burst, taken (-1: take all), given back.
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(h[1]) or burst
local at = tonumber(h[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = 0
if tonumber(ARGV[3]) < 0 then
  granted = math.floor(tokens)
  tokens = tokens - granted
end
tokens = math.min(burst, tokens + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return granted
`;

export class RedisBacklogBudget implements SharedBacklogBudget {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly budget: number,
    private readonly perSecond: number,
    private readonly log: Logger,
  ) {
    // Redis away: a backlog is refused at once (4529), not queued; the client comes back.
    this.redis = failFastRedis(url, prefix, 'budgets', log);
    this.redis.defineCommand('skeinBacklogBucket', { numberOfKeys: 1, lua: SCRIPT });
  }

  /** Connects; the relay starts only once Redis answers (as the fan-out does). */
  async open(): Promise<this> {
    await this.redis.connect();
    return this;
  }

  private run(threadId: string, userId: string, take: boolean, giveBack: number): Promise<number> {
    const key = `${this.prefix}backlog:${threadId}:${userId}`;
    const cmd = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<number>>).skeinBacklogBucket!;
    return cmd.call(this.redis, key, String(this.perSecond / 1000), String(this.budget), take ? '-1' : '0', String(giveBack));
  }

  async reserve(threadId: string, userId: string): Promise<number> {
    try {
      return Number(await this.run(threadId, userId, true, 0));
    } catch (err) {
      // Nothing is granted: the backlog waits for Redis (the client is told to come back).
      this.log.warn({ event: 'backlog_budget_unavailable', threadId, err: String(err) }, 'shared backlog budget unreachable');
      return 0;
    }
  }

  refund(threadId: string, userId: string, n: number): void {
    if (n <= 0) return;
    this.run(threadId, userId, false, n).catch(() => {
      // Lost tokens refill with time; nothing else depends on them.
    });
  }

  close(): void {
    this.redis.disconnect();
  }
}
