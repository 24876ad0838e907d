/**
 * The relay is SIGKILLed during a burst and restarted on the same data: every message
 * that had a seq keeps it, unsequenced ones are resent by the clients, nothing doubles.
 * Runs on SQLite (the data dir) and on PostgreSQL (SKEIN_DATABASE_URL, a schema of its own).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, postgresSchemas } from '../helpers/postgres.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { aliceAndBob } from '../helpers/scenarios.ts';
import { type TestClient, canonicalOrder } from '../helpers/y-client.ts';

const pg = postgresSchemas();
const backends: Array<[string, () => Record<string, string>]> = [
  ['sqlite', () => ({})],
  ['postgres', () => ({ SKEIN_DATABASE_URL: PG_URL, SKEIN_DATABASE_SCHEMA: pg.freshSchema() })],
];

describe.each(backends)('%s', (name, storeEnv) => {
  let relay: RelayProcess;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    // Rate limits are covered elsewhere; here the burst should reach the relay as fast as it can.
    relay = await startRelay({ ...storeEnv(), SKEIN_MAX_MESSAGES_PER_SECOND: '10000', SKEIN_MESSAGE_BURST: '10000', SKEIN_MAX_UPDATES_PER_SECOND: '10000' });
  });
  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    await relay?.stop();
  });

  it('keeps every assigned seq across a SIGKILL and sequences the rest after restart', async () => {
    expect(relay.logs.find((l) => l.event === 'listening')?.storage).toBe(name);
    const { id, alice, a, b } = await aliceAndBob(relay);
    clients.push(a, b);

    // Both send in bursts, one batch per macrotask, until the relay is killed mid-stream.
    const total = 300;
    const sent: string[] = [];
    let killed = false;
    const seenBeforeKill = new Map<string, number>();
    const burst = new Promise<void>((resolve) => {
      const step = () => {
        // Half the burst goes out before the kill, the rest only after it: however fast the
        // relay sequences, the kill lands mid-stream and part of the burst meets a dead relay.
        if (!killed && sent.length >= total / 2) return void setTimeout(step, 5);
        for (let i = 0; i < 10 && sent.length < total; i++) {
          const c = sent.length % 2 ? b : a;
          sent.push(c.send(`burst ${sent.length}`).id);
        }
        if (sent.length < total) setImmediate(step);
        else resolve();
      };
      step();
    });
    // Kill once a good part has been sequenced (before the second half is even sent).
    await a.until(() => a.roots.canon.size >= 40, 'some messages sequenced');
    for (const c of [a, b]) for (const [mid, v] of c.roots.canon.entries()) seenBeforeKill.set(mid, v.seq);
    await relay.stop('SIGKILL');
    killed = true;
    await burst;
    expect(killed).toBe(true);
    expect(seenBeforeKill.size).toBeGreaterThanOrEqual(40);
    expect(seenBeforeKill.size).toBeLessThan(total);

    await relay.start();
    const state = () =>
      [a, b].map((c) => `${c.userId}: ${c.roots.messages.length} messages, ${c.roots.canon.size} canon, connected=${c.provider.wsconnected}, closes=${JSON.stringify(c.closes)}`).join('; ') +
      `\nrelay: ${relay.logs.filter((l) => (l.level as number) >= 40 || l.event === 'ws_close').map((l) => JSON.stringify(l)).slice(-15).join('\n')}`;
    try {
      await a.until(() => sent.every((mid) => a.roots.canon.has(mid)), 'alice has canon for all after restart', 40_000);
      await b.until(() => sent.every((mid) => b.roots.canon.has(mid)), 'bob has canon for all after restart', 10_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${state()}`);
    }

    // Every seq the clients saw before the crash is unchanged.
    for (const [mid, seq] of seenBeforeKill) {
      expect(a.roots.canon.get(mid)!.seq).toBe(seq);
      expect(b.roots.canon.get(mid)!.seq).toBe(seq);
    }
    // Gap-free, each message once, same order everywhere.
    const order = canonicalOrder(a);
    expect(order.map((o) => o.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(canonicalOrder(b)).toEqual(order);
    const history = await relay.api('GET', `/v1/threads/${id}/messages?limit=1000`, alice);
    expect(history.body.lastSeq).toBe(total);
    expect(history.body.messages.map((m: any) => m.id)).toEqual(order.map((o) => o.id));
    expect(new Set(history.body.messages.map((m: any) => m.id)).size).toBe(total);
    for (const c of [a, b]) expect(c.roots.messages.length).toBe(total);
  });
});
