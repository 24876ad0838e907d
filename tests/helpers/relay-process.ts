/**
 * Runs the real relay as a child process on loopback, exactly as `npm start` does (the bundle
 * in `dist/relay/`, with its Node flags; built first if its sources changed), and gives tests
 * its URL, logs, tokens and a way to kill and restart it. `RELAY_COMPILED=0` runs the
 * TypeScript sources through tsx instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildRelayBundle } from '../../tools/build-relay.ts';
import { buildIfStale, targets } from '../../tools/prestart.ts';

process.setMaxListeners(50); // each y-websocket provider adds an exit listener

const ROOT = new URL('../../', import.meta.url).pathname;

/** A program the relay runs under, e.g. `valgrind --tool=callgrind` (BENCH_WRAP, benchmarks only). */
export function wrapper(): string[] {
  return process.env.BENCH_WRAP?.split(' ').filter(Boolean) ?? [];
}

/** The Node flags `npm start` gives the relay's bundle (package.json), so tests and benchmarks run it the same way. */
const START_FLAGS = (() => {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  return /^node (.*)dist\/relay\/main\.js$/.exec(start)?.[1]?.split(' ').filter(Boolean) ?? [];
})();

let bundleReady: Promise<unknown> | null = null;

/**
 * The bundle `npm start` runs, rebuilt once per test process when its sources changed (as
 * prestart does); two processes building at once both write whole files (build-relay.ts).
 */
function ensureBundle(): Promise<unknown> {
  return (bundleReady ??= buildIfStale(targets(ROOT).relay, () => buildRelayBundle(ROOT)));
}

export interface RelayLogLine {
  event?: string;
  msg?: string;
  [k: string]: unknown;
}

/** Relays started by this test process: killed when it exits, so none outlives a run. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/**
 * SKEIN_TEST_STORE=postgres runs every relay process of the tests on PostgreSQL (the test
 * database, a schema per data directory, so a restart finds its data); schemas are named
 * `skein_rp_*` and left in place; drop them after such a run with
 *   psql -h 127.0.0.1 -U postgres test -Atc "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname LIKE 'skein_rp_%'" | psql -q -h 127.0.0.1 -U postgres test
 * Tests that open skein.sqlite themselves, or assert the backend, do not apply in this mode.
 */
function testStore(dataDir: string): Record<string, string> {
  if (process.env.SKEIN_TEST_STORE !== 'postgres') return {};
  const schema = `skein_rp_${basename(dataDir).toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
  return { SKEIN_DATABASE_URL: process.env.SKEIN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', SKEIN_DATABASE_SCHEMA: schema };
}

export class RelayProcess {
  proc: ChildProcess | null = null;
  port = 0;
  readonly logs: RelayLogLine[] = [];
  readonly rawLog: string[] = [];
  private logWaiters: Array<() => void> = [];

  constructor(
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/sync`;
  }

  /** Starts the process (on the same port as before, if it ran already). */
  async start(): Promise<void> {
    // RELAY_NODE_ARGS lets a benchmark profile the relay (e.g. --cpu-prof).
    const extra = process.env.RELAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    // RELAY_COMPILED=0 (the environment, or this relay's) runs the sources through tsx.
    const compiled = (this.env.RELAY_COMPILED ?? process.env.RELAY_COMPILED) !== '0';
    if (compiled) await ensureBundle();
    const entry = compiled ? [...START_FLAGS, 'dist/relay/main.js'] : ['--import', 'tsx', 'server/main.ts'];
    // BENCH_WRAP runs the relay under another program (the compare bench's callgrind mode).
    const [cmd, ...args] = [...wrapper(), process.execPath, ...extra, ...entry];
    const proc = spawn(cmd!, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        SKEIN_DATA_DIR: this.dataDir,
        SKEIN_DEV_AUTH: '1',
        SKEIN_LOG_LEVEL: 'debug',
        // Tests opt in to the AT bridge; main.ts would otherwise start a local PDS.
        SKEIN_ATPROTO_SERVICE: 'off',
        // main.ts runs the demo bot with dev auth; tests that want it say so.
        SKEIN_DEMO_BOT: '0',
        ...testStore(this.dataDir),
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.rawLog.push(line);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line });
        }
        const w = this.logWaiters;
        this.logWaiters = [];
        for (const f of w) f();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    const from = this.logs.length;
    try {
      const line = await this.waitForLog((l) => l.event === 'listening', 60_000, from, proc);
      this.port = line.port as number;
    } catch (err) {
      // Never leave a half-started relay behind (it would outlive the test run).
      proc.kill('SIGKILL');
      this.proc = null;
      throw err;
    }
  }

  /** Resolves with the first log line (from index `from`) matching `pred`. */
  waitForLog(pred: (l: RelayLogLine) => boolean, timeoutMs = 15_000, from = 0, proc = this.proc): Promise<RelayLogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for relay log; last lines:\n${this.rawLog.slice(-20).join('\n')}`)), timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`relay exited (${code}) while waiting; last lines:\n${this.rawLog.slice(-20).join('\n')}`));
      };
      const check = () => {
        for (let i = from; i < this.logs.length; i++) {
          if (pred(this.logs[i]!)) {
            clearTimeout(timer);
            proc?.off('exit', onExit);
            return resolve(this.logs[i]!);
          }
        }
        this.logWaiters.push(check);
      };
      proc?.once('exit', onExit);
      check();
    });
  }

  /** Stops the process with `signal` and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
    this.proc = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** A JSON request against the relay. */
  async api<T = any>(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Mints a dev token for `userId`. */
  async token(userId: string): Promise<string> {
    const r = await this.api<{ token: string }>('POST', '/v1/dev/token', undefined, { userId });
    if (r.status !== 200) throw new Error(`dev token failed: ${r.status}`);
    return r.body.token;
  }

  /** Creates a thread as `token`'s user with these other participants. */
  async createThread(token: string, participants: string[], title = 'test thread', extra: object = {}): Promise<{ id: string }> {
    const r = await this.api('POST', '/v1/threads', token, { title, participants, ...extra });
    if (r.status !== 201) throw new Error(`create thread failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
}

/** Starts a relay process with a fresh data dir (unless one is given). */
export async function startRelay(env: Record<string, string> = {}, dataDir?: string): Promise<RelayProcess> {
  const relay = new RelayProcess(dataDir ?? mkdtempSync(join(tmpdir(), 'skein-test-')), env);
  await relay.start();
  return relay;
}
