/**
 * Benchmark: what one durable message commit costs the SQLite store, in process (no sockets,
 * no Yjs): CPU µs (user / system, all threads, so the fdatasync in the pool counts) and wall
 * time per commit. "One at a time" awaits each commit before the next (a quiet relay: one
 * transaction and one fdatasync per message); "ten at once" commits ten threads' messages in
 * the same turn (one group commit). "1 ms apart" sleeps 1 ms between commits, as a relay at a
 * low rate does: on this VM the same commit then costs about 3× the CPU (cold caches after
 * each wake-up), which is what low-rate figures of every server measure too.
 * Issue 10: the floor under the relay's cost per message.
 *
 * Run: npm run bench -- store-commit   (BENCH_COMMITS: commits per case, default 3000;
 * BENCH_STRACE=1: syscalls per message, `strace -c -f` on this process while measuring: the
 * WAL frames a commit writes show as `pwrite64`, two per page, whatever the machine's load;
 * BENCH_CALLGRIND=1: instructions per message, every thread of this process counted by
 * valgrind's callgrind between two `callgrind_control` calls, load-independent — ~50× slower,
 * so use BENCH_COMMITS=1000 BENCH_WARMUP=3000 and BENCH_CASES to pick cases, e.g. BENCH_CASES=FULL/1,FULL/10)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { straceStart } from './strace.ts';

const COMMITS = Number(process.env.BENCH_COMMITS ?? 3000);
const STRACE_DIR = process.env.BENCH_STRACE === '1' ? mkdtempSync(join(tmpdir(), 'skein-strace-')) : null;
const THREADS = 10;
/** BENCH_CALLGRIND: this process runs under callgrind (re-spawned by run()), its dumps go here. */
const CALLGRIND_DIR = process.env.BENCH_CALLGRIND_DIR ?? null;
/** `sync/perTurn[/gapMs]` cases to run, all when unset. */
const CASES = process.env.BENCH_CASES?.split(',') ?? null;
/** About the size of one client update plus the relay's canon for it. */
const UPDATE = new Uint8Array(300).fill(7);

async function measure(sync: 'FULL' | 'NORMAL', perTurn: number, gapMs = 0): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-store-commit-'));
  const store = new SqliteStore(join(dir, 'skein.sqlite'), { synchronous: sync });
  const threads = Array.from({ length: THREADS }, (_, i) => `t${i.toString().padStart(25, '0')}`);
  for (const id of threads) await store.createThread({ id, title: 'bench', participants: ['u1', 'u2'], mirror: false, createdAt: 1 });
  let n = 0;
  const commit = (t: string) => {
    const k = n++;
    return store.commitMessages(t, [UPDATE], [{
      record: { id: `01J${k.toString(36).padStart(23, '0')}`, authorId: 'did:plc:abcdefghijklmnopqrstuvwx', text: `message number ${k} with some ordinary chat text`, clientSentAt: Date.now() },
      state: 'sent',
    }], Date.now());
  };
  let busy = 0;
  const round = async (count: number) => {
    for (let i = 0; i < count; i += perTurn) {
      const t = performance.now();
      await Promise.all(threads.slice(0, perTurn).map(commit));
      busy += performance.now() - t;
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
  };
  // Warm-up: JIT, page cache, the WAL's first pass. Under callgrind V8 still compiles after
  // 500 (its tiering counts calls): BENCH_WARMUP=3000 keeps the compiler out of the count.
  await round(Number(process.env.BENCH_WARMUP ?? Math.min(500, COMMITS)));
  const straceStop = STRACE_DIR ? await straceStart(process.pid, STRACE_DIR) : null;
  if (CALLGRIND_DIR) await callgrindControl('-z');
  const cpu0 = process.cpuUsage();
  busy = 0;
  await round(COMMITS);
  const cpu = process.cpuUsage(cpu0);
  const instructions = CALLGRIND_DIR ? await callgrindControl('-d') : NaN;
  const traced = straceStop ? await straceStop() : null;
  const wall = busy;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const per = (v: number) => (v / COMMITS).toFixed(0).padStart(4);
  const calls = traced ? ` ${(traced.calls / COMMITS).toFixed(1)} | ${traced.top.slice(0, 6).map(([n, c]) => `${n} ${(c / COMMITS).toFixed(1)}`).join(', ')} |` : '';
  const counted = CALLGRIND_DIR ? ` ${(instructions / COMMITS / 1000).toFixed(1)} |` : '';
  return `| ${sync} | ${perTurn === 1 ? 'one at a time' : `${perTurn} at once`}${gapMs ? `, ${gapMs} ms apart` : ''} | ${per(cpu.user)} | ${per(cpu.system)} | ${per(wall * 1000)} |${calls}${counted}`;
}

/**
 * Callgrind: `-z` zeroes this process's counters, `-d` dumps them and returns the
 * instructions counted since. Asynchronous: callgrind answers from this process's own loop.
 */
async function callgrindControl(action: '-z' | '-d'): Promise<number> {
  const dir = CALLGRIND_DIR!;
  await new Promise<void>((resolve, reject) =>
    spawn('callgrind_control', [action, String(process.pid)], { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`callgrind_control ${action}: ${code}`)))),
  );
  if (action === '-z') return NaN;
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`cg.${process.pid}.`)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  return Number(/^summary: (\d+)/m.exec(readFileSync(join(dir, dumps.at(-1)!), 'utf8'))![1]);
}

export async function run(): Promise<void> {
  if (process.env.BENCH_CALLGRIND === '1' && !CALLGRIND_DIR) {
    // Re-run this file in a node of its own under callgrind; its table is this bench's output.
    const dir = mkdtempSync(join(tmpdir(), 'skein-callgrind-'));
    execFileSync('valgrind', ['-q', '--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, process.execPath, '--import', 'tsx', new URL(import.meta.url).pathname], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_CALLGRIND_DIR: dir },
    });
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  console.log(`SqliteStore.commitMessages, ${COMMITS} messages per case, one message and one 300-byte update each`);
  const strace = STRACE_DIR ? ' syscalls per message (strace) | largest |' : '';
  const counted = CALLGRIND_DIR ? ' k instructions per message (callgrind) |' : '';
  console.log(`| sync | commits | user CPU µs per message | system CPU µs per message | wall µs per message (without the gaps) |${strace}${counted}`);
  console.log(`|---|---|---|---|---|${STRACE_DIR ? '---|---|' : ''}${CALLGRIND_DIR ? '---|' : ''}`);
  for (const sync of ['FULL', 'NORMAL'] as const) {
    for (const [perTurn, gapMs] of [[1, 0], [THREADS, 0], [1, 1]] as const) {
      if (CASES && !CASES.includes(gapMs ? `${sync}/${perTurn}/${gapMs}` : `${sync}/${perTurn}`)) continue;
      console.log(await measure(sync, perTurn, gapMs));
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
