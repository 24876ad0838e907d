/**
 * Benchmark (issue #13): what the Redis fan-out costs a delivery. Two relay processes on one
 * PostgreSQL schema + Redis; alice sends on instance 0, one reader sits on instance 0 (same
 * instance: no fan-out on the path) and one on instance 1 (stored by instance 0, published,
 * applied and forwarded by instance 1). Figures:
 * - `latency`: one message at a time, send → the reader's document has it (p50/p99, ms);
 * - `burst`: 4 senders (2 per instance) × 100 messages at once → every reader holds all
 *   (deliveries/s counted per reader, 4 readers = 2 per instance).
 * On a 2-core machine both relays, PostgreSQL, Redis and the clients share the cores: the
 * figures show the extra hop, not what N machines would do.
 *
 * Needs PostgreSQL and Redis (SKEIN_TEST_DATABASE_URL, SKEIN_TEST_REDIS_URL). Run: npm run bench -- fanout
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const PG_URL = process.env.SKEIN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.SKEIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const has = (c: TestClient, id: string) => c.roots.messages.toArray().some((m) => m.id === id);

export async function run(): Promise<void> {
  const schema = `skein_bench_fan_${process.pid}`;
  const env = {
    SKEIN_DATABASE_URL: PG_URL,
    SKEIN_DATABASE_SCHEMA: schema,
    SKEIN_REDIS_URL: REDIS_URL,
    SKEIN_REDIS_PREFIX: `skein:bench-${process.pid}:`,
    SKEIN_JWT_SECRET: randomBytes(32).toString('hex'),
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_MAX_MESSAGES_PER_SECOND: '100000',
    SKEIN_MESSAGE_BURST: '100000',
    SKEIN_MAX_UPDATES_PER_SECOND: '100000',
    SKEIN_GENERATION_MESSAGES: '0',
  };
  const relays: RelayProcess[] = [];
  const clients: TestClient[] = [];
  try {
    relays.push(await startRelay(env), await startRelay(env));
    const [one, two] = relays as [RelayProcess, RelayProcess];
    const users = ['alice', 'bob', 'carol', 'dave'];
    const tokens = await Promise.all(users.map((u) => one.token(u)));
    const { id } = await one.createThread(tokens[0]!, users.slice(1));
    // alice, carol on instance 0; bob, dave on instance 1.
    const cs = users.map((u, i) => connectClient((i % 2 ? two : one).wsUrl, id, tokens[i]!, u));
    clients.push(...cs);
    await Promise.all(cs.map((c) => synced(c)));
    const [alice, bob, carol] = cs as [TestClient, TestClient, TestClient, TestClient];

    const same: number[] = [];
    const other: number[] = [];
    for (let i = 0; i < 220; i++) {
      const t = performance.now();
      const m = alice.send(`latency ${i}`);
      const sameDone = carol.until(() => has(carol, m.id), 'same').then(() => performance.now() - t);
      const otherDone = bob.until(() => has(bob, m.id), 'other').then(() => performance.now() - t);
      const [s, o] = await Promise.all([sameDone, otherDone]);
      if (i >= 20) (same.push(s), other.push(o));
    }
    console.log(`latency same instance: p50 ${pct(same, 50).toFixed(1)} ms, p99 ${pct(same, 99).toFixed(1)} ms`);
    console.log(`latency other instance: p50 ${pct(other, 50).toFixed(1)} ms, p99 ${pct(other, 99).toFixed(1)} ms`);

    const before = cs.map((c) => c.roots.messages.length);
    const per = 100;
    const t0 = performance.now();
    for (let i = 0; i < per; i++) for (const c of cs) c.send(`burst ${i}`);
    const total = before[0]! + per * cs.length;
    await Promise.all(cs.map((c) => c.until(() => c.roots.messages.length >= total, 'burst', 120_000)));
    const secs = (performance.now() - t0) / 1000;
    console.log(`burst: ${per * cs.length} messages to 4 readers in ${secs.toFixed(2)} s: ${Math.round((per * cs.length * cs.length) / secs)} deliveries/s`);
  } finally {
    clients.forEach((c) => c.destroy());
    await Promise.all(relays.map((r) => r.stop()));
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => c.end());
  }
}
