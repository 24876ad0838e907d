/**
 * Relay scenarios shared by the standalone relay's tests and the embedded relay's, so both
 * run the same checks instead of copies of them.
 */
import { expect } from 'vitest';
import type { RelayProcess } from './relay-process.ts';
import { type TestClient, canonicalOrder, connectClient, synced } from './y-client.ts';

/** A thread of alice's with bob in it, both connected with stock clients and synced. */
export async function aliceAndBob(relay: RelayProcess): Promise<{ id: string; alice: string; bob: string; a: TestClient; b: TestClient }> {
  const alice = await relay.token('alice');
  const bob = await relay.token('bob');
  const { id } = await relay.createThread(alice, ['bob']);
  const a = connectClient(relay.wsUrl, id, alice, 'alice');
  const b = connectClient(relay.wsUrl, id, bob, 'bob');
  await Promise.all([synced(a), synced(b)]);
  return { id, alice, bob, a, b };
}

export const allCanon = (c: TestClient, ids: string[]) => () => ids.every((id) => c.roots.canon.has(id));

/**
 * Alice and bob both write while disconnected, then reconnect: every message arrives once,
 * on both sides, with seqs 1..22 and the same canonical order. Returns the clients and ids.
 */
export async function offlineOnBothSides(
  threadId: string,
  client: (threadId: string, user: string) => TestClient,
): Promise<{ a: TestClient; b: TestClient; ids: string[] }> {
  const a = client(threadId, 'alice');
  const b = client(threadId, 'bob');
  await Promise.all([synced(a), synced(b)]);
  const online = [a.send('online 1'), b.send('online 2')];
  await a.until(allCanon(a, online.map((m) => m.id)), 'initial canon');
  a.provider.disconnect();
  b.provider.disconnect();
  const offline = [
    ...Array.from({ length: 10 }, (_, i) => a.send(`a offline ${i}`)),
    ...Array.from({ length: 10 }, (_, i) => b.send(`b offline ${i}`)),
  ];
  a.provider.connect();
  b.provider.connect();
  const ids = [...online, ...offline].map((m) => m.id);
  await a.until(allCanon(a, ids), 'alice has canon for all');
  await b.until(allCanon(b, ids), 'bob has canon for all');
  for (const c of [a, b]) {
    const msgIds = c.roots.messages.toJSON().map((m) => m.id);
    expect(msgIds.length).toBe(22);
    expect(new Set(msgIds).size).toBe(22);
    expect(canonicalOrder(c).map((o) => o.seq)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
  }
  expect(canonicalOrder(a)).toEqual(canonicalOrder(b));
  return { a, b, ids };
}
