/**
 * The three servers of the comparison bench, each as its own process on loopback, and a
 * client factory for each that speaks its protocol: stock y-websocket clients for the
 * reference server and Skein, HocuspocusProvider for Hocuspocus (its protocol prefixes
 * every frame with a document name, so a stock y-websocket client cannot talk to it).
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { RelayProcess, wrapper } from '../../helpers/relay-process.ts';

/**
 * `hocuspocus-sqlite`: Hocuspocus + extension-database on SQLite (WAL, synchronous=FULL) with
 * its default debounce (a crash loses up to 10 s); `hocuspocus-sqlite-d0`: the same with a
 * store after every change. `skein-normal`: Skein with `SKEIN_SQLITE_SYNC=NORMAL`.
 */
export type ServerKind = 'y-websocket' | 'hocuspocus' | 'hocuspocus-sqlite' | 'hocuspocus-sqlite-d0' | 'skein' | 'skein-normal';
export const ALL_KINDS: ServerKind[] = ['y-websocket', 'hocuspocus', 'hocuspocus-sqlite', 'hocuspocus-sqlite-d0', 'skein', 'skein-normal'];

/** One connected client: its document and a way to leave. */
export interface BenchClient {
  doc: Y.Doc;
  synced: Promise<void>;
  destroy(): void;
}

export interface BenchServer {
  kind: ServerKind;
  pid: number;
  /** Creates `threads` rooms whose members are the given user ids; returns room names. */
  createRooms(members: string[][]): Promise<string[]>;
  connect(room: string, userId: string): BenchClient;
  /**
   * Where a raw client (the light driver, no Y.Doc) connects: the WebSocket URL, and the
   * document name it prefixes every frame with (Hocuspocus's protocol) or null (y-websocket's).
   */
  raw(room: string, userId: string): { url: string; hocuspocusName: string | null };
  stop(): Promise<void>;
}

const HERE = new URL('./', import.meta.url).pathname;

/**
 * CPU seconds and peak RSS of a process, from /proc. `cpuSeconds` is the scheduler's own
 * runtime (`schedstat`, nanoseconds, summed over every thread): this kernel accounts
 * utime/stime by 4 ms ticks (CONFIG_TICK_CPU_ACCOUNTING, HZ=250), which charges a whole tick
 * to whichever task runs when it fires; a server that wakes briefly ~100 times a second is
 * then charged by chance and by its wake-ups' alignment with the tick, not by its work.
 * `tickSeconds`/`sysSeconds` are the tick-sampled figures (the only source of the user/system split).
 */
export function procStats(pid: number): { cpuSeconds: number; tickSeconds: number; sysSeconds: number; rssPeakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tickSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
  let runNs = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      runNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return { cpuSeconds: runNs / 1e9, tickSeconds, sysSeconds: Number(fields[12]) / 100, rssPeakMiB: hwm / 1024 };
}

/** The scheduler's runtime of one thread, seconds (see procStats). */
export function threadRunSeconds(pid: number, tid: string): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

/** Pins every thread of `pid` to one core (no-op without taskset). */
export function pin(pid: number, core: number): boolean {
  if (!hasTaskset) return false;
  return spawnSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}

function onSync(provider: { on(e: string, f: (s: boolean) => void): void }): Promise<void> {
  return new Promise((resolve) => provider.on('sync', (s) => s && resolve()));
}

function stockClient(wsUrl: string, room: string, params: Record<string, string>): BenchClient {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(wsUrl, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params,
    disableBc: true,
  });
  return { doc, synced: onSync(provider), destroy: () => (provider.destroy(), doc.destroy()) };
}

/** Starts a plain Node script that prints `{"event":"listening","port":N}`. */
async function startScript(script: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; port: number }> {
  const [cmd, ...args] = [...wrapper(), process.execPath, join(HERE, script)];
  const proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"port":(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return { proc, port };
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

async function refServer(): Promise<BenchServer> {
  const { proc, port } = await startScript('ref-server.mjs');
  return {
    kind: 'y-websocket',
    pid: proc.pid!,
    createRooms: async (members) => members.map((_, i) => `room-${i}`),
    connect: (room) => stockClient(`ws://127.0.0.1:${port}`, room, {}),
    raw: (room) => ({ url: `ws://127.0.0.1:${port}/${room}`, hocuspocusName: null }),
    stop: () => stopProc(proc),
  };
}

async function hocuspocusServer(kind: ServerKind): Promise<BenchServer> {
  const dbDir = kind === 'hocuspocus' ? null : mkdtempSync(join(tmpdir(), 'hocuspocus-sqlite-'));
  const { proc, port } =
    dbDir === null
      ? await startScript('hocuspocus-server.mjs')
      : await startScript('hocuspocus-sqlite-server.mjs', {
          HP_DB: join(dbDir, 'db.sqlite'),
          HP_DEBOUNCE: kind === 'hocuspocus-sqlite-d0' ? '0' : '',
        });
  return {
    kind,
    pid: proc.pid!,
    createRooms: async (members) => members.map((_, i) => `room-${i}`),
    connect(room) {
      const doc = new Y.Doc();
      let resolveSynced!: () => void;
      const synced = new Promise<void>((r) => (resolveSynced = r));
      const provider = new HocuspocusProvider({
        url: `ws://127.0.0.1:${port}`,
        name: room,
        document: doc,
        WebSocketPolyfill: WebSocket,
        onSynced: () => resolveSynced(),
      } as ConstructorParameters<typeof HocuspocusProvider>[0]);
      return { doc, synced, destroy: () => (provider.destroy(), doc.destroy()) };
    },
    raw: (room) => ({ url: `ws://127.0.0.1:${port}`, hocuspocusName: room }),
    async stop() {
      await stopProc(proc);
      if (dbDir) rmSync(dbDir, { recursive: true, force: true });
    },
  };
}

/** Skein as `npm start` runs it, durable (`SKEIN_SQLITE_SYNC=FULL`), limits lifted for the load. */
async function skeinServer(kind: ServerKind, env: Record<string, string>): Promise<BenchServer> {
  // The production path: the relay's bundle as `npm start` runs it, rebuilt by RelayProcess
  // when its sources changed (a bundle patched by hand runs as it is while they have not).
  const relay = new RelayProcess(mkdtempSync(join(tmpdir(), 'skein-compare-')), {
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_SQLITE_SYNC: 'FULL',
    SKEIN_MAX_MESSAGES_PER_SECOND: '1000',
    SKEIN_MAX_UPDATES_PER_SECOND: '1000',
    SKEIN_MAX_HTTP_WRITES_PER_MINUTE: '100000',
    SKEIN_HTTP_WRITE_BURST: '100000',
    // Stock clients cannot follow a generation roll (the SDK does): the live document
    // grows as the other servers' documents do.
    SKEIN_GENERATION_MESSAGES: '0',
    ...env,
    ...(kind === 'skein-normal' ? { SKEIN_SQLITE_SYNC: 'NORMAL' } : {}),
  });
  await relay.start();
  const tokens = new Map<string, string>();
  const tokenOf = async (u: string) => {
    if (!tokens.has(u)) tokens.set(u, await relay.token(u));
    return tokens.get(u)!;
  };
  return {
    kind,
    pid: relay.proc!.pid!,
    async createRooms(members) {
      const all = [...new Set(members.flat())];
      for (let i = 0; i < all.length; i += 50) await Promise.all(all.slice(i, i + 50).map(tokenOf));
      const rooms: string[] = [];
      for (const m of members) rooms.push((await relay.createThread(tokens.get(m[0]!)!, m)).id);
      return rooms;
    },
    connect: (room, userId) => stockClient(relay.wsUrl, room, { token: tokens.get(userId)! }),
    raw: (room, userId) => ({ url: `${relay.wsUrl}/${room}?token=${encodeURIComponent(tokens.get(userId)!)}`, hocuspocusName: null }),
    // SIGTERM: a graceful stop, so --cpu-prof (RELAY_NODE_ARGS) gets written.
    stop: () => relay.stop('SIGTERM'),
  };
}

export function startServer(kind: ServerKind, skeinEnv: Record<string, string> = {}): Promise<BenchServer> {
  if (kind === 'y-websocket') return refServer();
  if (kind.startsWith('hocuspocus')) return hocuspocusServer(kind);
  return skeinServer(kind, skeinEnv);
}
