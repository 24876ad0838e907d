/**
 * Relay memory per active thread, and whether memory comes back once threads are left
 * (issue 10): the relay's heap at rest, with T threads open at once (one stock client each,
 * one message each), and after those clients left and the documents were unloaded
 * (SKEIN_IDLE_UNLOAD_MS=500). A second round with T other threads shows whether what stays
 * after a round grows with each round (a leak) or not (compiled code, grown tables). Heap
 * figures come from the relay's own /metrics (prom-client: skein_nodejs_heap_size_used_bytes)
 * after a full GC (the relay runs with --expose-gc and SKEIN_BENCH_GC_BEFORE_METRICS=1), the
 * lowest of several samples; "code" is V8's code space (machine code the JIT compiled); RSS
 * from /proc. The relay runs its bundle, as `npm start` does (RELAY_COMPILED=0: through tsx).
 *
 *   BENCH_THREADS=2000 npm run bench -- threads-memory
 *   BENCH_ROUNDS=1 npm run bench -- threads-memory   (one round only)
 *   BENCH_HEAP_SNAPSHOTS=/tmp/snaps npm run bench -- threads-memory   (heap snapshots at rest and after each round, to diff)
 *   BENCH_WARMUP_THREADS=2000 npm run bench -- threads-memory   (the baseline after serving that many threads, not one:
 *     the JIT's compiled code for the hot paths is then part of it, so what a round leaves is what threads leave)
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { startRelay, type RelayProcess } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';
import { heapKindsMiB } from './heap-snapshot-kinds.ts';
import { exposeGc, heapPartsMiB, rssMiB } from './relay-heap.ts';

const T = Number(process.env.BENCH_THREADS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;
const WARMUP = Number(process.env.BENCH_WARMUP_THREADS ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let firstSnapshot: ReturnType<typeof heapKindsMiB> | null = null;

/**
 * Asks the relay for a heap snapshot (SIGUSR2, see --heapsnapshot-signal), waits until it is
 * written and prints its compiled code and data against the first snapshot's.
 */
async function snapshot(relay: RelayProcess, label: string): Promise<void> {
  if (!SNAPSHOTS) return;
  const files = () => readdirSync(SNAPSHOTS).filter((f) => f.endsWith('.heapsnapshot'));
  const before = new Set(files());
  relay.proc!.kill('SIGUSR2');
  while (files().length === before.size) await sleep(200);
  // Written once the relay answers again.
  await fetch(`${relay.url}/metrics`).then((r) => r.text());
  const file = files().find((f) => !before.has(f))!;
  const kinds = heapKindsMiB(`${SNAPSHOTS}/${file}`);
  firstSnapshot ??= kinds;
  const vs = (now: number, then: number) => `${now.toFixed(2)} MiB (${now >= then ? '+' : ''}${(((now - then) / then) * 100).toFixed(1)} %)`;
  console.log(`  heap snapshot (${label}) ${SNAPSHOTS}/${file}: data ${vs(kinds.data, firstSnapshot.data)}, compiled code ${vs(kinds.code, firstSnapshot.code)}`);
}

async function createThreads(relay: RelayProcess, token: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 50) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => relay.createThread(token, [], `t${i + j}`)))).map((t) => t.id));
  }
  return ids;
}

/** Opens every thread (one client, one message each), leaves them all and waits until every document is unloaded. */
async function openAndLeave(relay: RelayProcess, token: string, ids: string[], onActive?: () => Promise<void>): Promise<void> {
  const unloaded = () => relay.logs.filter((l) => l.event === 'doc_unloaded').length;
  const target = unloaded() + ids.length;
  const clients: TestClient[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const batch = ids.slice(i, i + 100).map((id) => connectClient(relay.wsUrl, id, token, 'owner'));
    await Promise.all(batch.map((c) => synced(c, 60_000)));
    for (const c of batch) c.send('hello');
    clients.push(...batch);
  }
  await Promise.all(clients.map((c) => c.until(() => c.roots.canon.size === 1, 'canon', 60_000)));
  await onActive?.();
  clients.forEach((c) => c.destroy());
  // Every document unloaded (after 500 ms idle, with a compaction each).
  const deadline = performance.now() + 120_000;
  while (unloaded() < target && performance.now() < deadline) await sleep(200);
  if (unloaded() < target) console.log(`  only ${unloaded()} of ${target} documents unloaded`);
}

export async function run(): Promise<void> {
  // A full GC before each heap sample (the relay collects before answering /metrics).
  const gcEnv = exposeGc();
  if (SNAPSHOTS) {
    mkdirSync(SNAPSHOTS, { recursive: true });
    process.env.RELAY_NODE_ARGS = `${process.env.RELAY_NODE_ARGS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${SNAPSHOTS}`.trim();
  }
  const relay = await startRelay({
    ...gcEnv,
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_IDLE_UNLOAD_MS: '500',
    SKEIN_MAX_HTTP_WRITES_PER_MINUTE: '10000000',
    SKEIN_HTTP_WRITE_BURST: '10000000',
    SKEIN_MAX_CONNECTIONS_PER_USER: '100000',
  });
  const pid = relay.proc!.pid!;
  const fmt = (h: { heap: number; code: number }) => `${h.heap.toFixed(1)} MiB (code ${h.code.toFixed(1)})`;
  try {
    const token = await relay.token('owner');
    // Warm up: WARMUP threads through the whole path (join, message, leave, unload), so the
    // baseline is the relay at rest having served, not the relay at start.
    await openAndLeave(relay, token, await createThreads(relay, token, WARMUP));
    await sleep(1000);
    const base = await heapPartsMiB(relay);
    const baseRss = rssMiB(pid);
    await snapshot(relay, 'at rest');
    console.log(`threads-memory: ${T} threads per round, each opened by one client with one message; baseline after a warm-up of ${WARMUP} thread(s)`);
    console.log(`  heap at rest          ${fmt(base)}, RSS ${baseRss.toFixed(0)} MiB`);
    let previous = base;
    for (let r = 1; r <= ROUNDS; r++) {
      const ids = await createThreads(relay, token, T);
      await openAndLeave(relay, token, ids, async () => {
        const active = await heapPartsMiB(relay);
        console.log(`  round ${r}, all active  ${fmt(active)}, RSS ${rssMiB(pid).toFixed(0)} MiB: ${(((active.heap - previous.heap) * 1024) / T).toFixed(1)} KB per active thread (with its connection)`);
      });
      const after = await heapPartsMiB(relay);
      await snapshot(relay, `after round ${r}`);
      const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;
      console.log(
        `  round ${r}, all left    ${fmt(after)}, RSS ${rssMiB(pid).toFixed(0)} MiB: ${pct(((after.heap - base.heap) / base.heap) * 100)} vs rest` +
          ` (without code space ${pct(((after.heap - after.code - (base.heap - base.code)) / (base.heap - base.code)) * 100)})` +
          (r > 1 ? `, ${pct(((after.heap - previous.heap) / previous.heap) * 100)} vs round ${r - 1}` : ''),
      );
      previous = after;
    }
  } finally {
    await relay.stop();
  }
}
