/**
 * Middleware: HTTP writes (POST, PATCH, PUT, DELETE) cost a token from the caller's bucket
 * (`SKEIN_MAX_HTTP_WRITES_PER_MINUTE`, burst `SKEIN_HTTP_WRITE_BURST`). Beyond it: 429
 * RATE_LIMITED with `Retry-After`, so one user cannot create threads (or retry mirrors)
 * until the disk is full. Runs after requireUser: the bucket belongs to the user.
 */
import type { MiddlewareHandler } from 'hono';
import { ErrorCode } from '../../shared/errors.ts';
import type { AppEnv } from '../context.ts';
import { HttpError } from './http-error.ts';
import { TokenBucket } from '../ops/rate-limit.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Buckets kept before full (idle) ones are forgotten. */
const PRUNE_AT = 10_000;

export function limitWrites(perMinute: number, burst: number): MiddlewareHandler<AppEnv> {
  const buckets = new Map<string, TokenBucket>();
  return async (c, next) => {
    if (READS.has(c.req.method)) return next();
    const user = c.get('userId');
    let bucket = buckets.get(user);
    if (!bucket) {
      if (buckets.size >= PRUNE_AT) for (const [u, b] of buckets) if (b.idle) buckets.delete(u);
      bucket = new TokenBucket(perMinute / 60, burst);
      buckets.set(user, bucket);
    }
    if (!bucket.take()) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(bucket.waitMs() / 1000))));
      throw new HttpError(429, ErrorCode.RATE_LIMITED, `too many writes: at most ${perMinute} per minute (burst ${burst})`);
    }
    return next();
  };
}
