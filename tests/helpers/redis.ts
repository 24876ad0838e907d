import { Redis } from 'ioredis';

/**
 * Redis for tests: a channel prefix of this test file's own (`skein:<random>:`), so
 * parallel runs on one Redis never hear each other.
 */
export const REDIS_URL = process.env.SKEIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh channel prefix for one test run. */
export const redisPrefix = (): string => `skein:${process.pid}-${Math.random().toString(36).slice(2, 10)}:`;

/**
 * Cuts the fan-out connections of one prefix (`sub`: subscribers, `pub`: publishers), by
 * the names RedisFanout gives them. Never `CLIENT KILL TYPE …`: that cuts every test file's
 * connections on the shared Redis, and failed a parallel file's publishes.
 */
export async function cutFanoutConnections(prefix: string, role: 'sub' | 'pub'): Promise<number> {
  const admin = new Redis(REDIS_URL);
  try {
    const list = (await admin.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => / name=(\S*)/.exec(line)?.[1] === `${prefix}${role}`)
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    return ids.length;
  } finally {
    admin.disconnect();
  }
}
