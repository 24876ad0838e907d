/**
 * Edits, deletions and reactions made offline across a generation roll with two relay
 * instances on one PostgreSQL schema and one Redis prefix (docs/design/message-lifecycle.md,
 * "Offline across a roll", "PostgreSQL + Redis"): the thread rolls on the instance the other
 * member writes to; the offline member comes back through the other instance. Node SDK
 * clients (fake-indexeddb, ws), real relay processes.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { UNLIMITED, scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { byId, gatedSocket, lifecycleState, reactionsOf, sendSequenced, untilView } from '../helpers/sdk-node.ts';

const { freshSchema } = postgresSchemas();
let relays: RelayProcess[] = [];
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relays = await startInstances(scaleOutEnv(freshSchema(), { ...UNLIMITED, SKEIN_GENERATION_MESSAGES: '5', SKEIN_ROLL_MIN_INTERVAL_MS: '0' }));
  for (const u of ['alice', 'bob']) tokens[u] = await relays[0]!.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(relays.map((r) => r.stop()));
});

async function client(relay: RelayProcess, userId: string, WS = WebSocket as unknown as typeof globalThis.WebSocket): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl: relay.url, userId, getToken: () => tokens[userId]!, WebSocketPolyfill: WS });
  clients.push(c);
  return c;
}

const until = (v: ThreadView, pred: (v: ThreadView) => boolean, what: string) => untilView(v, pred, what, 30_000, lifecycleState);

describe('SDK lifecycle writes across a roll, PostgreSQL + Redis, two instances', () => {
  it('made offline on one instance while the thread rolls on the other, they apply once for both members', async () => {
    const [a1, a2] = relays as [RelayProcess, RelayProcess];
    const gated = gatedSocket();
    const alice = await client(a1, 'alice', gated.WS);
    const bob = await client(a2, 'bob');
    const t = await alice.createThread({ title: 'two instances', participants: ['bob'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await Promise.all([a.ready, b.ready]);
    const [m1, m2] = await sendSequenced(a, 2, 'alice');
    await a.react(m1!, '👀');
    await until(b, (v) => byId(v, m2!)?.seq !== undefined && reactionsOf(v, m1!).join() === '👀:alice', 'bob has both and the reaction');

    gated.offline();
    await until(a, (v) => v.syncInfo.connection !== 'online', 'alice cut off');
    await a.edit(m1!, 'edited offline');
    await a.delete(m2!);
    await a.react(m1!, '🎉');
    await a.unreact(m1!, '👀');
    await sendSequenced(b, 8, 'bob'); // two rolls, on bob's instance
    // The roll follows the commit, and bob's view moves to the new generation after it: awaited.
    await until(b, (v) => v.generation.generation >= 2, 'bob’s view two generations on');

    gated.online();
    const applied = (v: ThreadView) => byId(v, m1!)?.text === 'edited offline' && byId(v, m2!)?.redacted === true && reactionsOf(v, m1!).join() === '🎉:alice';
    await until(a, (v) => v.generation.generation >= 2 && applied(v), 'alice rebased with her offline writes');
    await until(b, applied, 'bob, on the other instance, sees them');
    expect(b.versions(m1!).slice(1).map((x) => x.text)).toEqual(['edited offline']);
    for (const relay of relays) {
      const page = await relay.api('GET', `/v1/threads/${t.id}/messages?afterSeq=0&limit=100`, tokens.bob);
      expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(page.body.messages.find((m: any) => m.id === m1)).toMatchObject({ text: 'edited offline' });
      expect(page.body.messages.find((m: any) => m.id === m2)).toMatchObject({ redacted: true, text: '' });
    }
    expect(a.refused).toBeNull();
  });
});
