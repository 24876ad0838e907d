/**
 * A tiny identity provider for tests: serves a JWKS on loopback and signs tokens with
 * its keys. `rotate` replaces the published key set mid-run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';

export interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA' | 'RS384';
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string, alg: TestKey['alg']): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  // No `alg` in the published key: the relay's algorithm allow-list must do the refusing.
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export interface JwksServer {
  url: string;
  /** How many times the key set was fetched. */
  fetches: number;
  /** Publishes exactly these keys from now on. */
  rotate(keys: TestKey[]): void;
  /** Holds every key-set response until the returned function is called (a slow provider). */
  hold(): () => void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: TestKey[]): Promise<JwksServer> {
  let published = keys;
  const state = { fetches: 0 };
  let held: Promise<void> = Promise.resolve();
  const server: Server = createServer(async (_req, res) => {
    state.fetches++;
    await held;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    rotate(next) {
      published = next;
    },
    hold() {
      let release!: () => void;
      held = new Promise((r) => (release = r));
      return () => {
        held = Promise.resolve();
        release();
      };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Signs a token for `sub` with `key` (its own alg unless `alg` overrides it). */
export function signToken(
  key: TestKey,
  sub: string,
  claims: { iss?: string; aud?: string; alg?: string; expSeconds?: number } = {},
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: claims.alg ?? key.alg, kid: key.kid }).setSubject(sub).setIssuedAt();
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (claims.expSeconds ?? 600));
  return jwt.sign(key.privateKey);
}
