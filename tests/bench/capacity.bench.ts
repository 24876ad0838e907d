/**
 * Capacity beside the reference servers (issue 29), with the compare bench's servers and light
 * driver (tests/bench/compare*):
 *
 * - **Saturation**: at D10 C100, the highest rate per client each server sustains on its one
 *   pinned core with every message delivered and delivery p99 under 100 ms. Rates are tried
 *   upwards (a fresh server per step) until a step fails twice in a row.
 * - **Idle connections**: memory per connected idle client, N clients over D threads
 *   (RSS after N clients synced and a quiet spell, minus RSS before the first connected).
 *
 *   npm run bench -- capacity
 *   BENCH_SERVERS=hocuspocus,hocuspocus-sqlite,skein,skein-normal BENCH_RATES=2,4,6,8,10,12,14,16,20,24 BENCH_SECONDS=8 npm run bench -- capacity
 *   BENCH_IDLE_CLIENTS=5000 BENCH_IDLE_THREADS=100 BENCH_CAPACITY=idle npm run bench -- capacity
 */
import { readFileSync } from 'node:fs';
import { type Result, runOnce } from './compare.bench.ts';
import { LightClient } from './compare/light-client.ts';
import { type ServerKind, pin, startServer } from './compare/servers.ts';

const KINDS = (process.env.BENCH_SERVERS?.split(',') ?? ['hocuspocus', 'hocuspocus-sqlite', 'skein', 'skein-normal']) as ServerKind[];
const RATES = (process.env.BENCH_RATES ?? '2,4,6,8,10,12,14,16,20,24,28,32').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const P99_BOUND_MS = 100;
const PARTS = (process.env.BENCH_CAPACITY ?? 'saturation,idle').split(',');
const IDLE_CLIENTS = Number(process.env.BENCH_IDLE_CLIENTS ?? 5000);
const IDLE_THREADS = Number(process.env.BENCH_IDLE_THREADS ?? 100);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident memory now (not the peak), MiB. */
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

const sustained = (r: Result) => r.deliveries === r.expected && r.p99 < P99_BOUND_MS;

async function saturation(): Promise<void> {
  console.log(`saturation: D10 C100, rates ${RATES.join(', ')} messages/s per client, ${SECONDS} s each, p99 < ${P99_BOUND_MS} ms and nothing lost`);
  const best = new Map<ServerKind, number>();
  for (const kind of KINDS) {
    let failures = 0;
    best.set(kind, 0);
    for (const rate of RATES) {
      const r = await runOnce(kind, { name: `D10C100R${rate}`, threads: 10, clients: 100, rate }, SECONDS);
      const ok = sustained(r);
      console.log(
        `  ${kind} R${rate} (${rate * 100} messages/s, ${rate * 900} deliveries/s): ${r.deliveries}/${r.expected} delivered, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.cpuUsPerDelivery.toFixed(0)} µs CPU each, driver loop delay max ${r.driverDelayMaxMs.toFixed(0)} ms → ${ok ? 'sustained' : 'not sustained'}`,
      );
      if (ok) {
        best.set(kind, rate);
        failures = 0;
      } else if (++failures >= 2) break;
    }
  }
  console.log(`\n| server | highest sustained rate at D10 C100 (messages/s per client) | messages/s | deliveries/s |`);
  console.log('|---|---|---|---|');
  for (const [kind, rate] of best) console.log(`| ${kind} | ${rate} | ${rate * 100} | ${rate * 900} |`);
}

async function idle(): Promise<void> {
  console.log(`idle: ${IDLE_CLIENTS} light clients over ${IDLE_THREADS} threads, RSS after all synced and 5 s of quiet`);
  const rows: string[] = [];
  for (const kind of KINDS) {
    const server = await startServer(kind);
    pin(server.pid, 0);
    const clients: LightClient[] = [];
    try {
      const users = Array.from({ length: IDLE_CLIENTS }, (_, i) => `u${i}`);
      const members = Array.from({ length: IDLE_THREADS }, (_, t) => users.filter((_, i) => i % IDLE_THREADS === t));
      const rooms = await server.createRooms(members);
      await sleep(2000);
      const before = rssMiB(server.pid);
      for (let i = 0; i < IDLE_CLIENTS; i += 250) {
        const batch: LightClient[] = [];
        for (let j = i; j < Math.min(IDLE_CLIENTS, i + 250); j++) {
          const { url, hocuspocusName } = server.raw(rooms[j % IDLE_THREADS]!, users[j]!);
          batch.push(new LightClient(url, hocuspocusName, users[j]!, () => {}));
        }
        clients.push(...batch);
        await Promise.all(batch.map((c) => c.synced));
      }
      await sleep(5000);
      const after = rssMiB(server.pid);
      const perClientKiB = ((after - before) * 1024) / IDLE_CLIENTS;
      console.log(`  ${kind}: RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB, ${perClientKiB.toFixed(1)} KiB per idle client`);
      rows.push(`| ${kind} | ${before.toFixed(0)} | ${after.toFixed(0)} | ${perClientKiB.toFixed(1)} |`);
    } finally {
      clients.forEach((c) => c.destroy());
      await server.stop();
    }
  }
  console.log(`\n| server | RSS before MiB | RSS with ${IDLE_CLIENTS} idle clients MiB | KiB per idle client |`);
  console.log('|---|---|---|---|');
  rows.forEach((r) => console.log(r));
}

export async function run(): Promise<void> {
  pin(process.pid, 1);
  if (PARTS.includes('saturation')) await saturation();
  if (PARTS.includes('idle')) await idle();
}
