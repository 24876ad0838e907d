/**
 * Side-by-side cost of delivering chat messages: the y-websocket reference server,
 * Hocuspocus in memory, Hocuspocus + its Database extension on SQLite (default debounce, and
 * a store per change) and Skein (SQLite FULL, and NORMAL), each a fresh process pinned to
 * core 0 (taskset) while this driver runs on core 1. Same workload for each: D threads,
 * C clients spread over them, every client appends R messages/s for S seconds. Runs
 * alternate (A/B/C, A/B/C …) and the table shows medians with ratios to Hocuspocus + SQLite.
 *
 *   npm run bench -- compare
 *   BENCH_RUNS=2 BENCH_SECONDS=15 BENCH_WORKLOADS=D10C100R1,D10C100R5,D100C500R0.2 npm run bench -- compare
 *   BENCH_SERVERS=skein RELAY_NODE_ARGS=--cpu-prof npm run bench -- compare   (profile the relay)
 *   BENCH_WARMUP_SECONDS=15 npm run bench -- compare   (steady state: measure after a warm-up)
 *   BENCH_CALLGRIND=1 BENCH_WORKLOADS=D10C100R0.05 BENCH_WARMUP_SECONDS=150 BENCH_WARMUP_RATE=0.15 npm run bench -- compare
 *     (instructions per delivery, every thread of the server counted by valgrind's callgrind:
 *     the work itself, free of this VM's cache and wake-up effects; ~50× slower, so low rates.
 *     V8 tiers code up by how often it ran, not by time: the warm-up needs messages, not seconds)
 *   BENCH_STRACE=1 BENCH_WORKLOADS=D10C100R0.2 BENCH_WARMUP_SECONDS=10 BENCH_SECONDS=30 npm run bench -- compare
 *     (syscalls per message: `strace -c -f` attached to every thread of the server while measuring;
 *     at a rate every server keeps up with under ptrace, else batching hides the per-message cost)
 *   BENCH_DRIVER=yjs   stock providers with a Y.Doc each instead of the light raw clients
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as Y from 'yjs';
import { ulid } from 'ulid';
import { LightClient, type SentMessage } from './compare/light-client.ts';
import { straceStart } from './strace.ts';
import { ALL_KINDS, type BenchClient, type BenchServer, type ServerKind, pin, procStats, startServer, threadRunSeconds } from './compare/servers.ts';

// Every stock WebsocketProvider adds a process exit listener.
process.setMaxListeners(0);

export interface Workload {
  name: string;
  threads: number;
  clients: number;
  rate: number;
}

export interface Result {
  deliveries: number;
  expected: number;
  cpuUsPerDelivery: number;
  /** Share of that CPU spent in the kernel (system time). */
  sysShare: number;
  /** The same from tick-sampled utime+stime (what this bench reported before 2026-12-06 10:00): see procStats. */
  tickUsPerDelivery: number;
  p50: number;
  p99: number;
  rssPeakMiB: number;
  /** The driver's own event-loop delay (max, ms) while measuring: latencies above it may be the driver's. */
  driverDelayMaxMs: number;
  /** BENCH_CALLGRIND: instructions the server executed per delivery while measuring (all its threads). */
  instructionsPerDelivery: number;
  /** Messages sent while measuring. */
  messages: number;
  /** Voluntary context switches of all the server's threads per message: how often it slept. */
  wakeupsPerMessage: number;
  /** BENCH_STRACE: syscalls of all the server's threads per message, and the largest by count. */
  syscallsPerMessage: number;
  syscallTop: string;
  /** CPU share per server thread name while measuring (main thread, V8 workers, libuv pool…). */
  threads: string;
}

const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
/** Seconds of the same workload before measuring (JIT warm-up), 0 for none. */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 0);
/** Messages/s per client during the warm-up (default: the workload's own rate). */
const WARMUP_RATE = process.env.BENCH_WARMUP_RATE ? Number(process.env.BENCH_WARMUP_RATE) : null;
const WORKLOADS: Workload[] = (process.env.BENCH_WORKLOADS ?? 'D10C100R1,D10C100R5,D100C500R0.2').split(',').map((name) => {
  const m = /^D(\d+)C(\d+)R([\d.]+)$/.exec(name.trim());
  if (!m) throw new Error(`bad workload ${name} (want e.g. D10C100R5)`);
  return { name: name.trim(), threads: Number(m[1]), clients: Number(m[2]), rate: Number(m[3]) };
});
/** Extra relay settings, e.g. BENCH_SKEIN_ENV="SKEIN_SQLITE_SYNC=NORMAL" (what a setting costs). */
const SKEIN_ENV = Object.fromEntries((process.env.BENCH_SKEIN_ENV ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const KINDS = (process.env.BENCH_SERVERS?.split(',') ?? ALL_KINDS) as ServerKind[];
/** BENCH_CALLGRIND=1: each server runs under callgrind; where its dumps go. */
const CALLGRIND_DIR = process.env.BENCH_CALLGRIND === '1' ? mkdtempSync(join(tmpdir(), 'skein-callgrind-')) : null;
if (CALLGRIND_DIR) process.env.BENCH_WRAP = `valgrind -q --tool=callgrind --callgrind-out-file=${CALLGRIND_DIR}/cg.%p`;

/** BENCH_STRACE=1: `strace -c -f` attached to the server while measuring (syscalls per message). */
const STRACE_DIR = process.env.BENCH_STRACE === '1' ? mkdtempSync(join(tmpdir(), 'skein-strace-')) : null;

/** Sum of voluntary context switches (sleeps) over every thread of `pid`. */
function voluntarySwitches(pid: number): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return n;
}

/** CPU seconds (user+system) per thread name of `pid`: which threads the CPU goes to. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/\d+$/, '');
      // Node names few of its threads: the main thread is the one whose id is the process's.
      const name = tid === String(pid) ? 'main' : comm === 'node' ? 'other' : comm;
      out.set(name, (out.get(name) ?? 0) + threadRunSeconds(pid, tid));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Callgrind: zeroes the server's counters (`start`) or dumps them and returns the instructions counted since. */
function callgrind(server: BenchServer, action: 'start' | 'stop'): number {
  if (!CALLGRIND_DIR) return NaN;
  const pid = server.pid;
  // vgdb finds the server's pipes by the HOST of its environment (the relay's is 127.0.0.1).
  const { HOST: _host, ...env } = process.env;
  execFileSync('callgrind_control', [action === 'start' ? '-z' : '-d', String(pid)], {
    stdio: 'ignore',
    env: server.kind.startsWith('skein') ? { ...env, HOST: '127.0.0.1' } : env,
  });
  if (action === 'start') return NaN;
  const dumps = readdirSync(CALLGRIND_DIR).filter((f) => f.startsWith(`cg.${pid}.`)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const text = readFileSync(join(CALLGRIND_DIR, dumps.at(-1)!), 'utf8');
  return Number(/^summary: (\d+)/m.exec(text)![1]);
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * BENCH_DRIVER=light (default): raw clients that decode frames without a Y.Doc, so the
 * driver's core is not what p99 and saturation measure; `yjs`: stock providers with a Y.Doc each.
 */
const DRIVER = process.env.BENCH_DRIVER ?? 'light';

/**
 * Calls `f` for each message a transaction added to the `messages` array. Walks only the
 * structs the transaction integrated: a YEvent's `changes` walks the whole array, which made
 * the driver's core the bottleneck once threads held a few thousand messages.
 */
function onMessagesAdded(doc: Y.Doc, f: (m: SentMessage) => void): void {
  const messages = doc.getArray<SentMessage>('messages');
  doc.on('afterTransaction', (tr: Y.Transaction) => {
    for (const [client, after] of tr.afterState) {
      const before = tr.beforeState.get(client) ?? 0;
      if (after <= before) continue;
      const structs = doc.store.clients.get(client)!;
      for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
        const s = structs[i]!;
        if (!(s instanceof Y.Item) || s.parent !== messages || s.deleted) continue;
        // A struct merged with an older neighbour starts before this transaction's first clock.
        for (const m of s.content.getContent().slice(Math.max(0, before - s.id.clock))) f(m as SentMessage);
      }
    }
  });
}

/** One fresh server of `kind` under workload `w`, measured for `seconds` (the capacity bench reuses it). */
export async function runOnce(kind: ServerKind, w: Workload, seconds = SECONDS): Promise<Result> {
  const server: BenchServer = await startServer(kind, SKEIN_ENV);
  pin(server.pid, 0);
  const clients: Array<{ synced: Promise<void>; post(m: SentMessage): void; destroy(): void }> = [];
  const latencies: number[] = [];
  try {
    const users = Array.from({ length: w.clients }, (_, i) => `u${i}`);
    const members = Array.from({ length: w.threads }, (_, t) => users.filter((_, i) => i % w.threads === t));
    const rooms = await server.createRooms(members);
    for (let i = 0; i < w.clients; i++) {
      const userId = users[i]!;
      const room = rooms[i % w.threads]!;
      const received = (m: SentMessage) => {
        if (m.authorId !== userId) latencies.push(Date.now() - m.clientSentAt);
      };
      if (DRIVER === 'light') {
        const { url, hocuspocusName } = server.raw(room, userId);
        clients.push(new LightClient(url, hocuspocusName, userId, received));
      } else {
        const c: BenchClient = server.connect(room, userId);
        onMessagesAdded(c.doc, received);
        const messages = c.doc.getArray<SentMessage>('messages');
        clients.push({ synced: c.synced, post: (m) => messages.insert(messages.length, [m]), destroy: () => c.destroy() });
      }
    }
    await Promise.all(clients.map((c) => c.synced));
    // Sends R messages/s from every client for `seconds`, then waits for their deliveries.
    let round = 0;
    const drive = async (seconds: number, rate = w.rate) => {
      const ticks = Math.round(seconds * rate);
      // Spread the clients' sends over each tick instead of sending them all at once.
      const tickMs = 1000 / rate;
      const started = performance.now();
      for (let t = 0; t < ticks; t++, round++) {
        for (let i = 0; i < clients.length; i++) {
          const due = started + t * tickMs + (i / clients.length) * tickMs;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          clients[i]!.post({ id: ulid(), authorId: users[i]!, text: `m${round}`, clientSentAt: Date.now() });
        }
      }
      const expected = w.clients * (w.clients / w.threads - 1) * ticks;
      const deadline = performance.now() + 30_000;
      while (latencies.length < expected && performance.now() < deadline) await sleep(50);
      return expected;
    };
    // A relay runs for hours: the warm-up lets every server's JIT reach its steady state
    // before anything is measured (same workload, same clients, not counted).
    if (WARMUP_SECONDS > 0) {
      await drive(WARMUP_SECONDS, WARMUP_RATE ?? w.rate);
      latencies.length = 0;
    }
    callgrind(server, 'start');
    const straceStop = STRACE_DIR ? await straceStart(server.pid, STRACE_DIR) : null;
    const switches0 = voluntarySwitches(server.pid);
    const threads0 = threadCpu(server.pid);
    const { cpuSeconds: cpu0, sysSeconds: sys0, tickSeconds: tick0 } = procStats(server.pid);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const expected = await drive(seconds);
    loop.disable();
    const stats = procStats(server.pid);
    const switches = voluntarySwitches(server.pid) - switches0;
    const threadSpent = [...threadCpu(server.pid)].map(([n, c]) => [n, c - (threads0.get(n) ?? 0)] as const).filter(([, c]) => c > 0);
    const threadTotal = threadSpent.reduce((a, [, c]) => a + c, 0);
    const traced = straceStop ? await straceStop() : null;
    const instructions = callgrind(server, 'stop');
    const messages = Math.round(seconds * w.rate) * w.clients;
    latencies.sort((a, b) => a - b);
    return {
      deliveries: latencies.length,
      expected,
      cpuUsPerDelivery: ((stats.cpuSeconds - cpu0) * 1e6) / Math.max(1, latencies.length),
      sysShare: (stats.sysSeconds - sys0) / Math.max(0.01, stats.tickSeconds - tick0),
      tickUsPerDelivery: ((stats.tickSeconds - tick0) * 1e6) / Math.max(1, latencies.length),
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      rssPeakMiB: stats.rssPeakMiB,
      driverDelayMaxMs: loop.max / 1e6,
      instructionsPerDelivery: instructions / Math.max(1, latencies.length),
      messages,
      wakeupsPerMessage: switches / messages,
      syscallsPerMessage: traced ? traced.calls / messages : NaN,
      threads: threadSpent
        .sort((a, b) => b[1] - a[1])
        .map(([n, c]) => `${n} ${((c / threadTotal) * 100).toFixed(0)} %`)
        .join(', '),
      syscallTop: traced ? traced.top.slice(0, 8).map(([n, c]) => `${n} ${(c / messages).toFixed(1)}`).join(', ') : '',
    };
  } finally {
    clients.forEach((c) => c.destroy());
    await server.stop();
  }
}

export async function run(): Promise<void> {
  const pinned = pin(process.pid, 1);
  console.log(`compare: ${RUNS} run(s) per server and workload, ${SECONDS} s each after ${WARMUP_SECONDS} s of warm-up${WARMUP_RATE ? ` at ${WARMUP_RATE} messages/s per client` : ''}, servers ${pinned ? 'pinned to core 0, driver to core 1' : 'NOT pinned (no taskset)'}`);
  for (const w of WORKLOADS) {
    const results = new Map<ServerKind, Result[]>(KINDS.map((k) => [k, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const kind of KINDS) {
        const res = await runOnce(kind, w);
        results.get(kind)!.push(res);
        console.log(`  ${w.name} run ${r + 1} ${kind}: ${res.deliveries}/${res.expected} deliveries, ${res.cpuUsPerDelivery.toFixed(0)} µs CPU each (tick-sampled ${res.tickUsPerDelivery.toFixed(0)}, ${(res.sysShare * 100).toFixed(0)} % system), p50 ${res.p50} ms, p99 ${res.p99} ms, peak RSS ${res.rssPeakMiB.toFixed(0)} MiB; driver loop delay max ${res.driverDelayMaxMs.toFixed(0)} ms; ${res.wakeupsPerMessage.toFixed(1)} sleeps per message; CPU by thread: ${res.threads}${STRACE_DIR ? `; ${res.syscallsPerMessage.toFixed(1)} syscalls per message (${res.syscallTop})` : ''}${CALLGRIND_DIR ? `; ${(res.instructionsPerDelivery / 1000).toFixed(0)} k instructions per delivery` : ''}`);
      }
    }
    const med = (k: ServerKind, f: (r: Result) => number) => median(results.get(k)!.map(f));
    // Ratios against the setup a user would deploy instead (Hocuspocus + SQLite, default
    // debounce) and against in-memory Hocuspocus.
    const ratios: Array<[ServerKind, ServerKind]> = (
      [
        ['skein', 'hocuspocus-sqlite'],
        ['skein-normal', 'hocuspocus-sqlite'],
        ['skein', 'hocuspocus'],
      ] as Array<[ServerKind, ServerKind]>
    ).filter(([a, b]) => KINDS.includes(a) && KINDS.includes(b));
    const row = (label: string, f: (r: Result) => number, digits = 0) => {
      const cells = KINDS.map((k) => med(k, f).toFixed(digits));
      const rs = ratios.map(([a, b]) => `${(med(a, f) / med(b, f)).toFixed(2)}×`);
      console.log(`| ${w.name} ${label} | ${[...cells, ...rs].join(' | ')} |`);
    };
    console.log(`\n| workload, figure (median of ${RUNS}) | ${[...KINDS, ...ratios.map(([a, b]) => `${a}/${b}`)].join(' | ')} |`);
    console.log(`|---|${[...KINDS, ...ratios].map(() => '---|').join('')}`);
    row('server CPU µs per delivery', (r) => r.cpuUsPerDelivery);
    if (CALLGRIND_DIR) row('server k instructions per delivery (callgrind)', (r) => r.instructionsPerDelivery / 1000);
    row('delivery p50 ms', (r) => r.p50, 1);
    row('delivery p99 ms', (r) => r.p99, 1);
    row('server peak RSS MiB', (r) => r.rssPeakMiB);
    row('server sleeps (voluntary context switches) per message', (r) => r.wakeupsPerMessage, 1);
    if (STRACE_DIR) row('server syscalls per message (strace -c -f)', (r) => r.syscallsPerMessage, 1);
    row('deliveries (lost = expected − this)', (r) => r.deliveries);
    console.log();
  }
}
