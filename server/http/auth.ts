/**
 * Bearer JWTs (`sub` = user id) for HTTP and the `?token=` WebSocket parameter.
 *
 * Two ways to trust a token, either or both:
 * - the shared secret (HS256), which is also what dev tokens are signed with;
 * - an identity provider's JWKS URL (RS256/ES256/EdDSA), with optional `iss`/`aud` checks.
 *   jose's remote key set caches the keys and refetches on an unknown `kid` (key rotation),
 *   at most once per cooldown.
 */
// jose's sub-paths, not its index: the index loads all 46 of its modules (JWE and more, ~1.3 MiB of RSS).
import type { JWTVerifyGetKey } from 'jose';
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import { createRemoteJWKSet } from 'jose/jwks/remote';
import { SignJWT } from 'jose/jwt/sign';
import { jwtVerify } from 'jose/jwt/verify';
import { isLocalUserId } from '../../shared/schema.ts';
import type { Tickets } from './tickets.ts';

const SECRET_ALG = 'HS256';
/** Asymmetric algorithms accepted from a JWKS; never HS*, so a public key can't be used as an HMAC secret. */
export const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

export interface AuthOptions {
  /** HS256 shared secret, or null to accept only JWKS-verified tokens. */
  secret: Uint8Array | null;
  jwks?: {
    url: string;
    /** Required `iss`, when set. */
    issuer?: string;
    /** Required `aud` (one of the token's audiences), when set. */
    audience?: string;
    /** Least time between two fetches of the key set, ms (an unknown `kid` refetches after it). */
    cooldownMs?: number;
    /** How long fetched keys are trusted before a refetch, ms. */
    cacheMaxAgeMs?: number;
  } | null;
}

/**
 * The user a WebSocket upgrade acts as: a `?ticket=` (spent here, even when the socket is
 * then refused) maps to the user the bearer authenticated as when it was issued, so an
 * embedder's `authenticate` hook decided it; otherwise `?token=` as stock clients send it.
 */
export async function authenticateUpgrade(
  ctx: { tickets: Pick<Tickets, 'consume'>; authenticate(request: Request, token: string | null): Promise<string | null> },
  request: Request,
  query: (name: string) => string | undefined,
): Promise<string | null> {
  const ticket = query('ticket');
  if (ticket !== undefined) return await ctx.tickets.consume(ticket);
  return ctx.authenticate(request, query('token') ?? null);
}

export class Auth {
  private readonly secret: Uint8Array | null;
  private readonly keySet: JWTVerifyGetKey | null;
  private readonly jwks: AuthOptions['jwks'];

  constructor(opts: AuthOptions | Uint8Array) {
    const o: AuthOptions = opts instanceof Uint8Array ? { secret: opts } : opts;
    this.secret = o.secret;
    this.jwks = o.jwks ?? null;
    this.keySet = this.jwks
      ? createRemoteJWKSet(new URL(this.jwks.url), {
          cooldownDuration: this.jwks.cooldownMs ?? 30_000,
          cacheMaxAge: this.jwks.cacheMaxAgeMs ?? 600_000,
        })
      : null;
  }

  /** Issues an HS256 token for `userId`, valid for `ttlSeconds` (dev tokens, tests). */
  async issue(userId: string, ttlSeconds = 7 * 24 * 3600): Promise<string> {
    if (!this.secret) throw new Error('no shared secret configured: tokens come from the identity provider');
    return new SignJWT({})
      .setProtectedHeader({ alg: SECRET_ALG })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.secret);
  }

  /** Returns the user id of a valid token, or null for a missing, forged, expired or mis-addressed one. */
  async verify(token: string | undefined | null): Promise<string | null> {
    if (!token) return null;
    try {
      const { alg } = decodeProtectedHeader(token);
      let sub: unknown;
      if (alg === SECRET_ALG) {
        if (!this.secret) return null;
        ({ payload: { sub } } = await jwtVerify(token, this.secret, { algorithms: [SECRET_ALG] }));
      } else {
        if (!this.keySet || !this.jwks) return null;
        ({ payload: { sub } } = await jwtVerify(token, this.keySet, {
          algorithms: [...JWKS_ALGORITHMS],
          ...(this.jwks.issuer ? { issuer: this.jwks.issuer } : {}),
          ...(this.jwks.audience ? { audience: this.jwks.audience } : {}),
        }));
      }
      return typeof sub === 'string' && isLocalUserId(sub) ? sub : null;
    } catch {
      return null;
    }
  }
}
