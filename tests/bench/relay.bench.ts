/**
 * Relay throughput: the relay runs as its own process; C stock y-websocket clients over
 * T threads each append R messages/s for D seconds. Prints delivery latency (send →
 * arrival at every other member), canon latency (send → seq known to the author),
 * deliveries/s, relay peak RSS and CPU seconds.
 *
 *   BENCH_CLIENTS=20 BENCH_THREADS=5 BENCH_RATE=10 BENCH_SECONDS=10 npm run bench -- relay
 */
import { readFileSync } from 'node:fs';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';

const C = Number(process.env.BENCH_CLIENTS ?? 20);
const T = Number(process.env.BENCH_THREADS ?? 5);
const R = Number(process.env.BENCH_RATE ?? 10);
const D = Number(process.env.BENCH_SECONDS ?? 10);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function procStats(pid: number): { rssPeakMiB: number; cpuSeconds: number; userSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssPeakMiB: hwm / 1024, cpuSeconds: ticks / 100, userSeconds: Number(fields[11]) / 100 };
}

export async function run(): Promise<void> {
  const relay = await startRelay({ SKEIN_LOG_LEVEL: 'info' });
  const pid = relay.proc!.pid!;
  const clients: TestClient[] = [];
  const deliveries: number[] = [];
  const canonLatency: number[] = [];
  const ownSentAt = new Map<string, number>();
  try {
    const users = Array.from({ length: C }, (_, i) => `user${i}`);
    const tokens = await Promise.all(users.map((u) => relay.token(u)));
    const threads: string[] = [];
    for (let t = 0; t < T; t++) {
      const members = users.filter((_, i) => i % T === t);
      threads.push((await relay.createThread(tokens[users.indexOf(members[0]!)]!, members)).id);
    }
    for (let i = 0; i < C; i++) {
      const c = connectClient(relay.wsUrl, threads[i % T]!, tokens[i]!, users[i]!);
      c.roots.messages.observe((e) => {
        const now = Date.now();
        for (const item of e.changes.added) {
          for (const m of (item.content as any).getContent() as Array<{ id: string; authorId: string; clientSentAt: number }>) {
            if (m.authorId !== c.userId) deliveries.push(now - m.clientSentAt);
          }
        }
      });
      c.roots.canon.observe((e) => {
        const now = Date.now();
        for (const id of e.keysChanged) {
          const t0 = ownSentAt.get(`${c.userId}|${id}`);
          if (t0 !== undefined) canonLatency.push(now - t0);
        }
      });
      clients.push(c);
    }
    await Promise.all(clients.map((c) => synced(c)));
    const { cpuSeconds: cpu0, userSeconds: u0 } = procStats(pid);
    const started = performance.now();
    const interval = 1000 / R;
    await new Promise<void>((resolve) => {
      let ticks = 0;
      const total = Math.round(D * R);
      const timer = setInterval(() => {
        for (const c of clients) {
          const m = c.send(`bench ${ticks}`);
          ownSentAt.set(`${c.userId}|${m.id}`, m.clientSentAt);
        }
        if (++ticks >= total) {
          clearInterval(timer);
          resolve();
        }
      }, interval);
    });
    const expected = (C / T - 1) * C * Math.round(D * R);
    const deadline = performance.now() + 30_000;
    while (deliveries.length < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const elapsed = (performance.now() - started) / 1000;
    const stats = procStats(pid);
    deliveries.sort((a, b) => a - b);
    canonLatency.sort((a, b) => a - b);
    console.log(`relay: ${C} clients over ${T} threads, ${R} msgs/s each for ${D}s`);
    console.log(`  deliveries           ${deliveries.length} of ${expected} expected (${(deliveries.length / elapsed).toFixed(0)}/s)`);
    console.log(`  delivery latency     p50 ${pct(deliveries, 50).toFixed(1)} ms, p99 ${pct(deliveries, 99).toFixed(1)} ms`);
    console.log(`  send → canon (seq)   p50 ${pct(canonLatency, 50).toFixed(1)} ms, p99 ${pct(canonLatency, 99).toFixed(1)} ms`);
    console.log(`  relay peak RSS       ${stats.rssPeakMiB.toFixed(0)} MiB`);
    console.log(`  relay CPU            ${(stats.cpuSeconds - cpu0).toFixed(2)} s (user ${(stats.userSeconds - u0).toFixed(2)} s) (${(((stats.cpuSeconds - cpu0) * 1e6) / Math.max(1, deliveries.length)).toFixed(0)} µs per delivery)`);
  } finally {
    clients.forEach((c) => c.destroy());
    await relay.stop();
  }
}
