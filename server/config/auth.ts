/** Readers of the token settings: the HS256 shared secret and an identity provider's key set. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JwksConfig } from './shape.ts';
import { type Env, bad, int } from './env.ts';

/**
 * In dev mode without SKEIN_JWT_SECRET, a random secret is kept in the data dir so that
 * tokens survive restarts. Outside dev mode the secret must be given.
 */
export function jwtSecret(env: Env, dataDir: string, devAuth: boolean, jwks: boolean): Uint8Array | null {
  const raw = env.SKEIN_JWT_SECRET;
  if (raw) {
    if (raw.length < 32) return bad('SKEIN_JWT_SECRET', 'must be at least 32 characters', null);
    return new TextEncoder().encode(raw);
  }
  if (!devAuth) {
    if (jwks) return null;
    return bad('SKEIN_JWT_SECRET', 'required unless SKEIN_JWT_JWKS_URL is set or SKEIN_DEV_AUTH=1', null);
  }
  const file = join(dataDir, 'dev-jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}

/** SKEIN_JWT_JWKS_URL and the settings that only apply with it. */
export function jwks(env: Env): JwksConfig | null {
  const raw = env.SKEIN_JWT_JWKS_URL?.trim();
  if (!raw) {
    for (const v of ['SKEIN_JWT_ISSUER', 'SKEIN_JWT_AUDIENCE']) {
      if (env[v]) bad(v, 'only applies with SKEIN_JWT_JWKS_URL', null);
    }
    return null;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_JWT_JWKS_URL', `expected an http(s) URL, got ${JSON.stringify(raw)}`, null);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return bad('SKEIN_JWT_JWKS_URL', 'must be an http or https URL', null);
  return {
    url: url.href,
    ...(env.SKEIN_JWT_ISSUER ? { issuer: env.SKEIN_JWT_ISSUER } : {}),
    ...(env.SKEIN_JWT_AUDIENCE ? { audience: env.SKEIN_JWT_AUDIENCE } : {}),
    cooldownMs: int(env, 'SKEIN_JWT_JWKS_COOLDOWN_MS', 30_000, 0, 86_400_000),
    cacheMaxAgeMs: int(env, 'SKEIN_JWT_JWKS_CACHE_MS', 600_000, 1000, 86_400_000),
  };
}
