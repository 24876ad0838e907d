/**
 * With several instances (PostgreSQL + Redis), a user's offline-backlog budget in a thread is
 * one budget, kept in Redis (issue 28): reconnecting to another instance buys no more. Before,
 * each instance kept its own, so a member reaching N instances got N budgets. Real relay
 * processes on one schema and one Redis prefix, stock y-websocket clients.
 */
import { performance } from 'node:perf_hooks';
import { expect, it, onTestFinished } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const BUDGET = 100;
const RATE = 1;
const { freshSchema } = postgresSchemas();

it('a backlog re-sent to a second instance draws on the same budget; another member is sequenced meanwhile', async () => {
  const relays = await startInstances(
    scaleOutEnv(freshSchema(), { SKEIN_BACKLOG_BUDGET: String(BUDGET), SKEIN_BACKLOG_MESSAGES_PER_SECOND: String(RATE), SKEIN_GENERATION_MESSAGES: '0' }),
  );
  onTestFinished(async () => {
    await Promise.all(relays.map((r) => r.stop()));
  });
  const [r0, r1] = relays as [(typeof relays)[0], (typeof relays)[0]];
  const tokens = { bob: await r0.token('bob'), mallory: await r0.token('mallory') };
  const { id } = await r0.createThread(tokens.bob, ['mallory']);
  const clients: TestClient[] = [];
  onTestFinished(() => clients.forEach((c) => c.destroy()));
  const open = (url: string, user: keyof typeof tokens, doc?: Y.Doc) => {
    const c = connectClient(url, id, tokens[user], user, doc);
    clients.push(c);
    return c;
  };
  const bob = open(r1.wsUrl, 'bob');
  const first = open(r0.wsUrl, 'mallory');
  await Promise.all([synced(bob), synced(first)]);
  const started = performance.now();
  first.provider.disconnect();
  first.doc.transact(() => {
    for (let i = 0; i < 3 * BUDGET; i++) first.send(`offline ${i}`);
  });
  // Instance 0 takes the budget's worth and defers the rest.
  let closed = first.nextClose(30_000);
  first.provider.connect();
  expect((await closed).code).toBe(CloseCode.RATE_LIMITED);
  first.provider.disconnect();
  // Instance 1 has what instance 0 took (else it would take the same messages again).
  await bob.until(() => bob.roots.canon.size >= BUDGET, 'the first part sequenced on instance 1', 30_000);
  // The same backlog, now through instance 1.
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(first.doc));
  const second = open(r1.wsUrl, 'mallory', doc);
  closed = second.nextClose(30_000);
  expect((await closed).code).toBe(CloseCode.RATE_LIMITED);
  second.provider.disconnect();
  const m = bob.send('live');
  await bob.until(() => bob.roots.canon.has(m.id), "bob's message sequenced", 30_000);

  const rows = (await r1.api('GET', `/v1/threads/${id}/messages?limit=500`, tokens.bob)).body.messages as Array<{ seq: number; authorId: string }>;
  const elapsedS = (performance.now() - started) / 1000;
  const flood = rows.filter((r) => r.authorId === 'mallory').length;
  // One bucket: the budget and its refill, not one budget per instance (2 × 100 before).
  expect(flood).toBeGreaterThanOrEqual(BUDGET);
  expect(flood).toBeLessThanOrEqual(BUDGET + Math.ceil(RATE * elapsedS));
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  expect(rows.filter((r) => r.authorId === 'bob')).toHaveLength(1);
  expect(bob.closes).toEqual([]);
}, 90_000);
