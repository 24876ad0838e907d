/**
 * Relay memory per active thread, and whether memory comes back once threads are left
 * (issue 10): the relay's heap at rest, with T threads open at once (one stock client each,
 * one message each), and after those clients left and the documents were unloaded
 * (SKEIN_IDLE_UNLOAD_MS=500). Heap figures come from the relay's own /metrics
 * (prom-client: skein_nodejs_heap_size_used_bytes) after a full GC (the relay runs with
 * --expose-gc and SKEIN_BENCH_GC_BEFORE_METRICS=1), the lowest of several samples; RSS from
 * /proc.
 *
 *   BENCH_THREADS=2000 npm run bench -- threads-memory
 */
import { startRelay, type RelayProcess } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';
import { exposeGc, heapMiB, rssMiB } from './relay-heap.ts';

const T = Number(process.env.BENCH_THREADS ?? 2000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<void> {
  // A full GC before each heap sample (the relay collects before answering /metrics).
  const gcEnv = exposeGc();
  const relay = await startRelay({
    ...gcEnv,
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_IDLE_UNLOAD_MS: '500',
    SKEIN_MAX_HTTP_WRITES_PER_MINUTE: '10000000',
    SKEIN_HTTP_WRITE_BURST: '10000000',
    SKEIN_MAX_CONNECTIONS_PER_USER: '100000',
  });
  const pid = relay.proc!.pid!;
  try {
    const token = await relay.token('owner');
    const ids: string[] = [];
    for (let i = 0; i < T; i += 50) {
      ids.push(...(await Promise.all(Array.from({ length: Math.min(50, T - i) }, (_, j) => relay.createThread(token, [], `t${i + j}`)))).map((t) => t.id));
    }
    // Warm up one thread (code paths, JIT) so the baseline is the relay at rest, not at start.
    const warm = connectClient(relay.wsUrl, ids[0]!, token, 'owner');
    await synced(warm);
    warm.destroy();
    await sleep(2000);
    const base = await heapMiB(relay);
    const baseRss = rssMiB(pid);
    const clients: TestClient[] = [];
    for (let i = 0; i < T; i += 100) {
      const batch = ids.slice(i, i + 100).map((id) => connectClient(relay.wsUrl, id, token, 'owner'));
      await Promise.all(batch.map((c) => synced(c, 60_000)));
      for (const c of batch) c.send('hello');
      clients.push(...batch);
    }
    await Promise.all(clients.map((c) => c.until(() => c.roots.canon.size === 1, 'canon', 60_000)));
    const active = await heapMiB(relay);
    const activeRss = rssMiB(pid);
    clients.forEach((c) => c.destroy());
    // Every document unloaded (after 500 ms idle, with a compaction each), then measure.
    const unloaded = () => relay.logs.filter((l) => l.event === 'doc_unloaded').length;
    const deadline = performance.now() + 120_000;
    while (unloaded() < T + 1 && performance.now() < deadline) await sleep(200);
    console.log(`  documents unloaded  ${unloaded()} of ${T + 1}`);
    const after = await heapMiB(relay);
    const afterRss = rssMiB(pid);
    console.log(`threads-memory: ${T} threads, each opened by one client with one message`);
    console.log(`  heap at rest        ${base.toFixed(1)} MiB (RSS ${baseRss.toFixed(0)} MiB)`);
    console.log(`  heap, all active    ${active.toFixed(1)} MiB (RSS ${activeRss.toFixed(0)} MiB): ${(((active - base) * 1024) / T).toFixed(1)} KB per active thread (with its connection)`);
    console.log(`  heap after leaving  ${after.toFixed(1)} MiB (RSS ${afterRss.toFixed(0)} MiB): ${(((after - base) / base) * 100).toFixed(1)} % above rest`);
  } finally {
    await relay.stop();
  }
}
