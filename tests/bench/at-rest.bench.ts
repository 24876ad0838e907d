/**
 * Benchmark: the relay's memory at rest, before its first client, next to Hocuspocus +
 * SQLite (the compare bench's reference). Most of the peak-RSS gap of issue 29 was there
 * before the first message. Each variant is a fresh process, given `BENCH_REST_SECONDS` to
 * settle, then read from `/proc/<pid>/smaps_rollup`; variants alternate, `BENCH_RUNS` rounds.
 *
 * Variants: Skein as `npm start` runs it (the bundle `dist/relay/main.js` with its Node
 * flags); the same code as separate modules (`dist/server/main.js`, what tsc emits; the
 * library build); and the bundle with V8's `--optimize-for-size` added (docs/operations.md:
 * less memory under load, more CPU near saturation).
 *
 * Run: npm run bench -- at-rest   (builds dist/ first unless BENCH_NO_BUILD=1)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './compare/servers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** `npm start`'s Node flags (package.json). */
function startFlags(): string[] {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  return /^node (.*)dist\/relay\/main\.js$/.exec(start)?.[1]?.split(' ').filter(Boolean) ?? [];
}

interface Reading {
  rssMiB: number;
  anonMiB: number;
}

function smaps(pid: number): Reading {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: kb('Rss') / 1024, anonMiB: kb('Anonymous') / 1024 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the relay from `entry` with `flags`, off the AT network, and waits for it to listen. */
async function skeinAtRest(entry: string, flags: string[], settleMs: number): Promise<Reading> {
  const dataDir = mkdtempSync(join(tmpdir(), 'skein-rest-'));
  const proc: ChildProcess = spawn(process.execPath, [...flags, join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SKEIN_DATA_DIR: dataDir, SKEIN_ATPROTO_SERVICE: 'off', SKEIN_DEMO_BOT: '0', SKEIN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('"event":"listening"')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`${entry} exited (${code})`)));
    });
    await sleep(settleMs);
    return smaps(proc.pid!);
  } finally {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  if (!process.env.BENCH_NO_BUILD) execFileSync('npm', ['run', 'build:lib', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const settleMs = Number(process.env.BENCH_REST_SECONDS ?? 4) * 1000;
  const flags = startFlags();
  const variants: Array<{ name: string; measure: () => Promise<Reading> }> = [
    {
      name: 'hocuspocus-sqlite',
      async measure() {
        const s = await startServer('hocuspocus-sqlite');
        await sleep(settleMs);
        const r = smaps(s.pid);
        await s.stop();
        return r;
      },
    },
    { name: `skein (npm start: bundle, ${flags.join(' ')})`, measure: () => skeinAtRest('dist/relay/main.js', flags, settleMs) },
    { name: 'skein, separate modules (dist/server)', measure: () => skeinAtRest('dist/server/main.js', flags, settleMs) },
    { name: 'skein, bundle with --optimize-for-size', measure: () => skeinAtRest('dist/relay/main.js', [...flags, '--optimize-for-size'], settleMs) },
  ];
  const readings = new Map<string, Reading[]>(variants.map((v) => [v.name, []]));
  for (let i = 0; i < runs; i++) for (const v of variants) readings.get(v.name)!.push(await v.measure());
  console.log(`memory at rest, before any client (${runs} runs alternated, ${settleMs / 1000} s after listening; MiB, each run)`);
  console.log(`  ${'server'.padEnd(52)} ${'RSS'.padEnd(24)} anonymous`);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  for (const [name, rs] of readings) console.log(`  ${name.padEnd(52)} ${fmt(rs.map((r) => r.rssMiB)).padEnd(24)} ${fmt(rs.map((r) => r.anonMiB))}`);
}
