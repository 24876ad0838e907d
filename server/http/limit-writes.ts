/**
 * Middleware: HTTP writes (POST, PATCH, PUT, DELETE) cost a token from the caller's bucket
 * (`SKEIN_MAX_HTTP_WRITES_PER_MINUTE`, burst `SKEIN_HTTP_WRITE_BURST`), and a write to one
 * thread (`/threads/:id/…`: archive, members, moderators, remotes, retries) also one from
 * the caller's bucket in that thread (`SKEIN_MAX_THREAD_WRITES_PER_MINUTE`, burst half of
 * it): each such write changes the thread for all of its members (system events, sockets
 * closed 4403, bridge work), so one member cannot spend the whole of their rate churning one
 * thread. Beyond either: 429 RATE_LIMITED with `Retry-After`, and neither bucket is charged.
 * Runs after requireUser: the buckets belong to the user. Kept per relay instance.
 */
import type { MiddlewareHandler } from 'hono';
import { ErrorCode } from '../../shared/errors.ts';
import type { AppEnv } from '../context.ts';
import { HttpError } from './http-error.ts';
import { KeyedBuckets } from '../ops/rate-limit.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The thread a write under `/threads/:id/…` is about (`POST /threads` itself names none). */
const THREAD_WRITE = /\/threads\/([^/]+)\/./;

export interface WriteLimits {
  httpWritesPerMinute: number;
  httpWriteBurst: number;
  threadWritesPerMinute: number;
}

/** Burst of the per-thread bucket: half a minute's rate, at least one. */
export const threadWriteBurst = (perMinute: number): number => Math.max(1, Math.ceil(perMinute / 2));

export function limitWrites(limits: WriteLimits): MiddlewareHandler<AppEnv> {
  const { httpWritesPerMinute: perMinute, httpWriteBurst: burst, threadWritesPerMinute: threadPerMinute } = limits;
  const users = new KeyedBuckets(perMinute / 60, burst);
  const threads = new KeyedBuckets(threadPerMinute / 60, threadWriteBurst(threadPerMinute));
  return async (c, next) => {
    if (READS.has(c.req.method)) return next();
    const user = c.get('userId');
    const userBucket = users.get(user);
    const threadId = THREAD_WRITE.exec(c.req.path)?.[1];
    const threadBucket = threadId === undefined ? null : threads.get(`${threadId}\u0000${user}`);
    const userWait = userBucket.waitMs();
    const threadWait = threadBucket?.waitMs() ?? 0;
    if (userWait > 0 || threadWait > 0) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(Math.max(userWait, threadWait) / 1000))));
      const what = userWait > 0 ? `at most ${perMinute} per minute (burst ${burst})` : `at most ${threadPerMinute} per minute in one thread (burst ${threadWriteBurst(threadPerMinute)})`;
      throw new HttpError(429, ErrorCode.RATE_LIMITED, `too many writes: ${what}`);
    }
    userBucket.take();
    threadBucket?.take();
    return next();
  };
}
