/**
 * Readers of the shared-storage settings: PostgreSQL (URL, schema) and Redis fan-out.
 * URLs may hold passwords: a problem names the variable, never the value.
 */
import { type Env, bad } from './env.ts';

/** SKEIN_DATABASE_URL: a postgres:// URL or unset. The value is never echoed (it may hold a password). */
export function databaseUrl(env: Env): string | null {
  const raw = env.SKEIN_DATABASE_URL?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_DATABASE_URL', 'expected a postgres://user:password@host:port/database URL (value not shown)', null);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return bad('SKEIN_DATABASE_URL', `expected a postgres:// or postgresql:// URL, got scheme ${JSON.stringify(url.protocol.slice(0, 20))}`, null);
  }
  return raw;
}

/** SKEIN_REDIS_URL: a redis:// or rediss:// URL, or unset. The value is never echoed. */
export function redisUrl(env: Env, hasDatabase: boolean): string | null {
  const raw = env.SKEIN_REDIS_URL?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_REDIS_URL', 'expected a redis://[:password@]host:port URL (value not shown)', null);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return bad('SKEIN_REDIS_URL', `expected a redis:// or rediss:// URL, got scheme ${JSON.stringify(url.protocol.slice(0, 20))}`, null);
  }
  // Instances on separate SQLite files do not share a log: fan-out between them would be wrong.
  if (!hasDatabase) return bad('SKEIN_REDIS_URL', 'needs SKEIN_DATABASE_URL (instances share one PostgreSQL database)', null);
  return raw;
}

/** SKEIN_DATABASE_SCHEMA: an identifier, only with SKEIN_DATABASE_URL. */
export function databaseSchema(env: Env, hasUrl: boolean): string | null {
  const raw = env.SKEIN_DATABASE_SCHEMA?.trim();
  if (!raw) return null;
  if (!hasUrl) return bad('SKEIN_DATABASE_SCHEMA', 'only applies with SKEIN_DATABASE_URL', null);
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) {
    return bad('SKEIN_DATABASE_SCHEMA', `expected a lower-case identifier (a-z, 0-9, _), got ${JSON.stringify(raw)}`, null);
  }
  return raw;
}
