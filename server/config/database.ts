/**
 * Readers of the shared-storage settings: PostgreSQL (URL, schema) and Redis fan-out.
 * URLs may hold passwords: a problem names the variable, never the value.
 */
import { type Env, bad } from './env.ts';

/**
 * A service URL variable with one of `schemes` (`postgres:`…), or null when unset. A bad
 * value is described by `example` and its scheme, never echoed (it may hold a password).
 */
function serviceUrl(env: Env, name: string, schemes: readonly string[], example: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad(name, `expected a ${example} URL (value not shown)`, null);
  }
  if (!schemes.includes(url.protocol)) {
    return bad(name, `expected a ${schemes.map((s) => `${s}//`).join(' or ')} URL, got scheme ${JSON.stringify(url.protocol.slice(0, 20))}`, null);
  }
  return raw;
}

/** SKEIN_DATABASE_URL: a postgres:// URL or unset. */
export function databaseUrl(env: Env): string | null {
  return serviceUrl(env, 'SKEIN_DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://user:password@host:port/database');
}

/** SKEIN_REDIS_URL: a redis:// or rediss:// URL, or unset; only with SKEIN_DATABASE_URL. */
export function redisUrl(env: Env, hasDatabase: boolean): string | null {
  const raw = serviceUrl(env, 'SKEIN_REDIS_URL', ['redis:', 'rediss:'], 'redis://[:password@]host:port');
  // Instances on separate SQLite files do not share a log: fan-out between them would be wrong.
  if (raw !== null && !hasDatabase) return bad('SKEIN_REDIS_URL', 'needs SKEIN_DATABASE_URL (instances share one PostgreSQL database)', null);
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
