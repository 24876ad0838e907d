/**
 * Several relay processes on one PostgreSQL schema and one Redis prefix (issue #13), and
 * stock y-websocket clients split across them: the setup the scale-out tests share.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { PG_URL } from './postgres.ts';
import { REDIS_URL, redisPrefix } from './redis.ts';
import { type RelayProcess, startRelay } from './relay-process.ts';
import { type TestClient, canonicalOrder, connectClient, synced } from './y-client.ts';

/** Settings every instance shares: the database schema, the Redis prefix, the token secret. */
export function scaleOutEnv(schema: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SKEIN_DATABASE_URL: PG_URL,
    SKEIN_DATABASE_SCHEMA: schema,
    SKEIN_REDIS_URL: REDIS_URL,
    SKEIN_REDIS_PREFIX: redisPrefix(),
    // Tokens minted by one instance are valid on the other.
    SKEIN_JWT_SECRET: randomBytes(32).toString('hex'),
    ...extra,
  };
}

/** No rate limit gets in the way of a test that hammers a thread. */
export const UNLIMITED = {
  SKEIN_MAX_MESSAGES_PER_SECOND: '10000',
  SKEIN_MESSAGE_BURST: '10000',
  SKEIN_MAX_UPDATES_PER_SECOND: '10000',
};

/**
 * Starts one instance per entry of `perInstance` (its own overrides, e.g. a proxied database
 * URL) on the shared `env`, one after the other: the first migrates the schema.
 */
export async function startInstances(env: Record<string, string>, perInstance: Array<Record<string, string>> = [{}, {}]): Promise<RelayProcess[]> {
  const relays: RelayProcess[] = [];
  try {
    for (const own of perInstance) relays.push(await startRelay({ ...env, ...own }));
  } catch (err) {
    await Promise.all(relays.map((r) => r.stop()));
    throw err;
  }
  return relays;
}

/** A new thread with one client per user, spread round-robin over `relays` (all synced). */
export async function splitThread(
  relays: RelayProcess[],
  clients: TestClient[],
  users = ['alice', 'bob', 'carol', 'dave'],
): Promise<{ id: string; cs: TestClient[]; tokens: string[] }> {
  const first = relays[0]!;
  const tokens = await Promise.all(users.map((u) => first.token(u)));
  const { id } = await first.createThread(tokens[0]!, users.slice(1));
  const cs = users.map((u, i) => connectClient(relays[i % relays.length]!.wsUrl, id, tokens[i]!, u));
  clients.push(...cs);
  await Promise.all(cs.map((c) => synced(c)));
  return { id, cs, tokens };
}

/** Clients' counts and closes, and each relay's latest warnings: the context of a failure. */
export function describeState(relays: RelayProcess[], cs: TestClient[]): string {
  return (
    cs.map((c) => `${c.userId}: ${c.roots.messages.length} messages, ${c.roots.canon.size} canon, closes=${JSON.stringify(c.closes)}`).join('; ') +
    '\n' +
    relays.map((r, i) => `relay ${i}: ${r.logs.filter((l) => (l.level as number) >= 40).map((l) => JSON.stringify(l)).slice(-8).join('\n')}`).join('\n')
  );
}

/** Resolves once every client holds canon for every id. */
export async function allHaveAll(relays: RelayProcess[], cs: TestClient[], ids: string[], timeoutMs = 30_000): Promise<void> {
  try {
    for (const c of cs) await c.until(() => ids.every((mid) => c.roots.canon.has(mid)), `${c.userId} has canon for all`, timeoutMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${describeState(relays, cs)}`);
  }
}

/** Every client agrees on one order: seqs exactly 1..n, each id once, each message once in the array. */
export function expectGapFree(cs: TestClient[], n: number): void {
  const reference = canonicalOrder(cs[0]!);
  expect(reference.map((m) => m.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(new Set(reference.map((m) => m.id)).size).toBe(n);
  for (const c of cs) {
    expect(canonicalOrder(c)).toEqual(reference);
    expect(new Set(c.roots.messages.toArray().map((m) => m.id)).size).toBe(c.roots.messages.length);
  }
}
