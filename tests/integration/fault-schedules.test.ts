/**
 * Seeded fault schedules (issue 27): stock y-websocket clients send, go offline, compose,
 * reconnect, while the relay's store fails at random — commits (before or inside their
 * transaction), relay updates, compactions — then the store heals. Afterwards:
 * - every message sent has exactly one seq, and seqs are gap-free;
 * - no client ever saw a message's seq change;
 * - every client's document equals the stored one (nothing lost, nothing only in memory);
 * - no client was closed with a permanent (44xx) code.
 *
 * On SQLite (150 schedules), PostgreSQL (50), and two relay instances on PostgreSQL + Redis
 * with the clients spread over them (30). `SKEIN_SCHEDULES=N` runs N schedules each
 * (`npm run soak` runs many), `SKEIN_FAULT_P` sets the fault rate (default 0.2);
 * `SKEIN_SCHEDULE_SEED=S` replays one seed (a failure prints its seed).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { MessageRecord } from '../../shared/schema.ts';
import { threadRoots } from '../../shared/schema.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { Store } from '../../server/store/store.ts';
import { Faults, faultyStore } from '../helpers/faulty-store.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { REDIS_URL, redisPrefix } from '../helpers/redis.ts';
import { type StoreRelay, startStoreRelay, storedDoc } from '../helpers/store-relay.ts';
import { type TestClient, connectClient, waitUntil } from '../helpers/y-client.ts';

const pg = postgresSchemas();
const replay = process.env.SKEIN_SCHEDULE_SEED ? Number(process.env.SKEIN_SCHEDULE_SEED) : null;
const perStore = Number(process.env.SKEIN_SCHEDULES ?? 0);

const stores: Array<[string, () => Promise<Store>, number, number]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-schedules-')), 'skein.sqlite')), perStore || 150, 1],
  ['postgres', () => pg.openStore(), perStore || 50, 100_001],
];

interface Member {
  user: string;
  client: TestClient;
  /** Message id → the seq this client first saw for it. */
  seen: Map<string, number>;
  online: boolean;
}

/** One schedule: a new thread on the shared relay, three clients, random steps under random faults. */
async function runSchedule(seed: number, relays: StoreRelay[], store: Store, faults: Faults): Promise<void> {
  const rng = seededRandom(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const thread = await store.createThread({ id: `s${seed}`, title: 'schedule', participants: ['alice', 'bob'], mirror: false, createdAt: Date.now() });
  const members: Member[] = [];
  const violations: string[] = [];
  const add = (user: string) => {
    // With several relay instances, the clients spread over them.
    const client = connectClient(relays[members.length % relays.length]!.wsUrl, thread.id, user, user);
    const m: Member = { user, client, seen: new Map(), online: true };
    client.roots.canon.observe((e) => {
      for (const id of e.keysChanged) {
        const seq = client.roots.canon.get(id)?.seq;
        if (seq === undefined) continue;
        const before = m.seen.get(id);
        if (before === undefined) m.seen.set(id, seq);
        else if (before !== seq) violations.push(`${user} saw ${id} change from seq ${before} to ${seq}`);
      }
    });
    members.push(m);
  };
  add('alice');
  add('alice');
  add('bob');
  const sent: MessageRecord[] = [];
  try {
    faults.failRandomly(Number(process.env.SKEIN_FAULT_P ?? 0.2), rng);
    const steps = 6 + Math.floor(rng() * 6);
    for (let i = 0; i < steps; i++) {
      const m = pick(members);
      const r = rng();
      if (r < 0.55) {
        const n = 1 + Math.floor(rng() * 3);
        m.client.doc.transact(() => {
          for (let k = 0; k < n; k++) sent.push(m.client.send(`s${seed} #${sent.length}`));
        });
      } else if (r < 0.8 && m.online) {
        m.client.provider.disconnect();
        m.online = false;
      } else if (!m.online) {
        m.client.provider.connect();
        m.online = true;
      }
      // Let the relay work on it (or not) before the next step: steps land in different batches.
      await new Promise((res) => setTimeout(res, Math.floor(rng() * 30)));
    }
    faults.heal();
    for (const m of members) if (!m.online) m.client.provider.connect();
    const ids = sent.map((s) => s.id);
    for (const m of members) {
      await m.client.until(() => ids.every((id) => m.client.roots.canon.has(id)), `${m.user}: every message sequenced`, 30_000);
    }
    // The store settles with the clients: same document everywhere.
    const target = members[0]!.client;
    for (const m of members) {
      await waitUntil([m.client.doc, target.doc], () => sameState(m.client.doc, target.doc), `${m.user} converged`, 30_000).catch(async (err: Error) => {
        const sv = (d: Y.Doc) => JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(d))].sort());
        const own = members.map((x) => `${x.user}#${x.client.doc.clientID} online=${x.online} ${sv(x.client.doc)}`);
        throw new Error(`${err.message}\n${own.join('\n')}\nstored ${sv(await storedDoc(store, thread.id))}`);
      });
    }
    const rows = await store.listMessages(thread.id, 0, 10_000);
    expect(rows.map((r) => r.seq), 'seqs are 1..n').toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.id).sort(), 'every message stored once').toEqual([...ids].sort());
    const seqs = new Map(rows.map((r) => [r.id, r.seq]));
    for (const m of members) for (const [id, seq] of m.seen) if (seqs.get(id) !== seq) violations.push(`${m.user} saw ${id} at seq ${seq}, stored ${seqs.get(id)}`);
    expect(violations).toEqual([]);
    const stored = await eventuallyStored(store, thread.id, target.doc);
    const canon = threadRoots(stored).canon;
    for (const [id, seq] of seqs) expect(canon.get(id)?.seq, `stored canon of ${id}`).toBe(seq);
    for (const m of members) expect(m.client.closes.filter((c) => c.code >= 4400 && c.code < 4500), `${m.user} closes`).toEqual([]);
  } catch (err) {
    throw new Error(`schedule seed ${seed} failed (replay: SKEIN_SCHEDULE_SEED=${seed}): ${(err as Error).message}`, { cause: err });
  } finally {
    faults.heal();
    for (const m of members) m.client.destroy();
  }
}

/** Same state vector and delete set: the two documents hold the same content. */
function sameState(a: Y.Doc, b: Y.Doc): boolean {
  return Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b)));
}

/** The stored document once it holds all `doc` holds (the last relay write may still be committing). */
async function eventuallyStored(store: Store, threadId: string, doc: Y.Doc): Promise<Y.Doc> {
  const until = Date.now() + 10_000;
  for (;;) {
    const stored = await storedDoc(store, threadId);
    if (sameState(stored, doc)) return stored;
    if (Date.now() > until) throw new Error(`stored document never matched the clients' (${JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(stored))])} vs ${JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(doc))])})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(stores)('fault schedules (%s)', (_kind, open, count, firstSeed) => {
  let relay: StoreRelay;
  let store: Store;
  const faults = new Faults();
  afterAll(async () => {
    await relay?.close();
    await store?.close();
  });

  it(`${replay !== null ? 1 : count} seeded schedules leave every message with exactly one seq`, async () => {
    store = await open();
    relay = await startStoreRelay(faultyStore(store, faults), { compactAfterUpdates: 3, compactGrowthPercent: 0, idleUnloadMs: 50 });
    const seeds = replay !== null ? [replay] : Array.from({ length: count }, (_, i) => firstSeed + i);
    for (const seed of seeds) await runSchedule(seed, [relay], store, faults);
    expect(faults.total).toBeGreaterThan(seeds.length / 4);
  }, 900_000);
});

describe('fault schedules (two instances on PostgreSQL + Redis)', () => {
  const relays: StoreRelay[] = [];
  const stores: Store[] = [];
  const faults = new Faults();
  afterAll(async () => {
    for (const r of relays) await r.close();
    for (const s of stores) await s.close();
  });

  it(`${replay !== null ? 1 : perStore || 30} seeded schedules with the clients spread over two relays leave every message with exactly one seq`, async () => {
    const schema = pg.freshSchema();
    const prefix = redisPrefix();
    for (let i = 0; i < 2; i++) {
      const s = await pg.openStore(schema);
      stores.push(s);
      relays.push(await startStoreRelay(faultyStore(s, faults), { compactAfterUpdates: 3, compactGrowthPercent: 0, idleUnloadMs: 50, redisUrl: REDIS_URL, redisPrefix: prefix }));
    }
    const count = perStore || 30;
    const seeds = replay !== null ? [replay] : Array.from({ length: count }, (_, i) => 200_001 + i);
    for (const seed of seeds) await runSchedule(seed, relays, stores[0]!, faults);
    expect(faults.total).toBeGreaterThan(seeds.length / 4);
  }, 900_000);
});
