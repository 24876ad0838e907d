/**
 * Benchmark (issue #13): the two ways PostgresStore sequences a commit (postgres-sequencing.ts),
 * `row-lock` (BEGIN, SELECT … FOR UPDATE, known ids, write, COMMIT) against `counter` (one
 * statement, UPDATE … RETURNING as lock and counter). Two store instances (separate pools,
 * as two relay processes) write:
 * - `1 writer`: one thread, one commit at a time (latency of a commit);
 * - `16 threads`: 2 × 8 writers, each on a thread of its own (no lock contention);
 * - `1 hot thread`: 2 × 8 writers on the same thread (every commit waits for the lock).
 * A commit is 3 messages + 1 update of 200 bytes, as a busy relay's flush would be.
 *
 * Needs PostgreSQL (SKEIN_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test);
 * uses a schema of its own, dropped at the end. Run: npm run bench -- pg-sequencing
 */
import pg from 'pg';
import type { Sequencing } from '../../server/store/postgres-sequencing.ts';
import { PostgresStore } from '../../server/store/postgres-store.ts';
import type { MessageCandidate } from '../../server/store/store.ts';

const BASE_URL = process.env.SKEIN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// BENCH_PG_ASYNC_COMMIT=1: synchronous_commit=off, so the figures show round trips and lock
// waits instead of this machine's WAL flush time.
const URL = process.env.BENCH_PG_ASYNC_COMMIT === '1' ? `${BASE_URL}?options=${encodeURIComponent('-c synchronous_commit=off')}` : BASE_URL;
const update = new Uint8Array(200).fill(7);
let n = 0;
const batch = (): MessageCandidate[] =>
  [0, 1, 2].map(() => ({ record: { id: `m${n++}`, authorId: 'alice', text: 'an ordinary chat message of some length', clientSentAt: 1 }, state: 'sent' }));

const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function scenario(stores: PostgresStore[], writersPerStore: number, threads: (w: number) => string, commitsPerWriter: number) {
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    stores.flatMap((s, si) =>
      Array.from({ length: writersPerStore }, async (_, wi) => {
        const thread = threads(si * writersPerStore + wi);
        for (let i = 0; i < commitsPerWriter; i++) {
          const t = performance.now();
          await s.commitMessages(thread, [update], batch(), Date.now());
          lat.push(performance.now() - t);
        }
      }),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  return { commitsPerSec: Math.round(lat.length / secs), p50: pct(lat, 50).toFixed(2), p99: pct(lat, 99).toFixed(2) };
}

export async function run(): Promise<void> {
  const schema = `skein_bench_${process.pid}`;
  const results: Array<Record<string, string | number>> = [];
  try {
    for (const sequencing of ['row-lock', 'counter', 'row-lock', 'counter', 'row-lock', 'counter'] as Sequencing[]) {
      const a = await PostgresStore.open({ connectionString: URL, schema, sequencing, maxConnections: 10 });
      const b = await PostgresStore.open({ connectionString: URL, schema, sequencing, maxConnections: 10 });
      const tag = `${sequencing}-${n}`;
      for (const i of [...Array(16).keys(), 'hot']) await a.createThread({ id: `${tag}-${i}`, title: '', participants: ['alice'], mirror: false, createdAt: 1 });
      await scenario([a], 1, () => `${tag}-0`, 100); // warm-up
      const one = await scenario([a], 1, () => `${tag}-0`, 1000);
      const many = await scenario([a, b], 8, (w) => `${tag}-${w}`, 150);
      const hot = await scenario([a, b], 8, () => `${tag}-hot`, 150);
      const t = (await a.getThread(`${tag}-hot`))!;
      if (t.lastSeq !== 2 * 8 * 150 * 3) throw new Error(`hot thread has lastSeq ${t.lastSeq}`);
      for (const [name, r] of [['1 writer', one], ['16 threads', many], ['1 hot thread', hot]] as const) {
        results.push({ sequencing, scenario: name, 'commits/s': r.commitsPerSec, 'p50 ms': r.p50, 'p99 ms': r.p99 });
      }
      await a.close();
      await b.close();
    }
  } finally {
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
  console.table(results);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
