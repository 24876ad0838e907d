/**
 * Durable commits for the SQLite store without an fsync on the event loop.
 *
 * SQLite runs in WAL mode with `synchronous=NORMAL`: a commit writes its WAL frames (in the
 * OS page cache) and returns; SQLite still syncs the WAL header when the log restarts and
 * the WAL and database around checkpoints, so the file is always consistent, but the last
 * commits could be lost to a power failure. This module closes that gap: after each commit
 * it runs `fdatasync` on the `-wal` file in libuv's thread pool, and a commit counts as
 * durable only once an fdatasync that *started after the commit finished* has completed
 * (fdatasync flushes every dirty page of the file, whichever descriptor wrote it). While
 * one fdatasync is in flight, the commits made meanwhile wait for the next one: a natural
 * group commit, and the event loop never blocks on the disk.
 *
 * The `-wal` file keeps its inode while any connection is open (checkpoints reset or
 * truncate it in place; only the last connection's close deletes it), and the relay holds
 * its connection for its whole life, so one descriptor opened at start serves until close.
 * See docs/operations.md, "Durability".
 */
import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** How the fdatasyncs run. */
export interface DurabilityOptions {
  /** Test hook: while this file exists, no fdatasync starts (`<gate>.held` says one waits). */
  gate?: string;
  /** Least time between the starts of two fdatasyncs, ms (0: back to back). */
  minIntervalMs?: number;
  /** A commit this long after the previous one ended syncs on the event loop (`quiet`), ms; default 1. */
  quietMs?: number;
}

/** Default of `DurabilityOptions.quietMs`. */
const QUIET_MS = 1;

export class WalDurability {
  /** Commits made so far (a counter, not SQLite's). */
  private committed = 0;
  /** Commits covered by a completed fdatasync. */
  private durable = 0;
  private inFlight = false;
  /** A start is scheduled (minIntervalMs): commits made meanwhile are still covered by it. */
  private scheduled = false;
  private lastStart = -Infinity;
  /** When the last commit was counted (`quiet`). */
  private lastCommit = -Infinity;
  private waiters: Waiter[] = [];
  /** A failed fdatasync: what was written may not be on disk, so nothing more is promised. */
  private failure: unknown = null;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private afterSyncs: Array<() => void> = [];

  private constructor(
    private readonly fd: number,
    private readonly opts: DurabilityOptions,
  ) {}

  /**
   * Opens a descriptor on `<dbFile>-wal`; null when there is none (then the caller keeps
   * `synchronous=FULL`, the fsync on the event loop).
   */
  static open(dbFile: string, opts: DurabilityOptions = {}): WalDurability | null {
    const wal = `${dbFile}-wal`;
    if (!existsSync(wal)) return null;
    let fd: number;
    try {
      fd = openSync(wal, 'r');
    } catch {
      return null;
    }
    // The same file SQLite writes (not one replaced between the check and the open).
    const a = fstatSync(fd);
    const b = statSync(wal, { throwIfNoEntry: false });
    if (!b || a.ino !== b.ino || a.dev !== b.dev) {
      closeSync(fd);
      return null;
    }
    return new WalDurability(fd, opts);
  }

  /**
   * Call right after a transaction committed: resolves once that commit is on disk (an
   * fdatasync that started after it has completed), rejects if that fdatasync failed.
   */
  committedNow(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    // Closed: SQLite's own close (a synced checkpoint) flushes it, but no promise can be kept.
    if (this.closed) return Promise.reject(new Error('store closed'));
    const upTo = ++this.committed;
    if (this.quiet()) return this.syncInline(upTo);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.kick();
    return p;
  }

  /**
   * Resolves once every commit made before this call is durable: read paths wait on it so
   * nothing leaves the process before it is on disk. Immediate when nothing is in flight.
   */
  settled(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.durable >= this.committed) return Promise.resolve();
    const upTo = this.committed;
    return new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
  }

  /** Whether an fdatasync is in flight (a commit made now waits for the next one). */
  get syncing(): boolean {
    return this.inFlight;
  }

  /**
   * Runs `fn` when the fdatasync in flight completes, before the next one starts: a commit
   * made then is covered by that next fdatasync, as one made now would be, so the group
   * commit waits there and gathers more work into one transaction.
   */
  afterSync(fn: () => void): void {
    this.afterSyncs.push(fn);
  }

  /**
   * Waits for the fdatasync in flight (if any), makes what was committed since durable (a
   * last, blocking fdatasync: a delayed start may never come now), then closes the descriptor.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight) await new Promise<void>((r) => this.idleWaiters.push(r));
    if (this.durable < this.committed && !this.failure) {
      try {
        fdatasyncSync(this.fd);
        this.reached(this.committed);
      } catch (err) {
        this.fail(err);
      }
    }
    closeSync(this.fd);
  }

  /**
   * Whether this commit is the first in a while (nothing in flight or scheduled, the last
   * commit at least `quietMs` ago): at such a rate nothing would share its fdatasync, and the
   * hand-off to the pool and back costs more CPU than the ~0.1 ms the event loop waits for
   * the disk (issue 29: two thread wake-ups and an eventfd per commit).
   */
  private quiet(): boolean {
    const now = performance.now();
    const quiet = now - this.lastCommit >= (this.opts.quietMs ?? QUIET_MS) && !this.inFlight && !this.scheduled && !this.opts.gate && !this.opts.minIntervalMs;
    this.lastCommit = now;
    return quiet;
  }

  /** Makes commit `upTo` (and every earlier one) durable on the event loop. */
  private syncInline(upTo: number): Promise<void> {
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      this.fail(err);
      return Promise.reject(err);
    }
    // Quiet is measured from the sync's end: a slow one must not make the next commit inline too.
    this.lastCommit = performance.now();
    this.reached(upTo);
    return Promise.resolve();
  }

  private kick(): void {
    if (this.inFlight || this.scheduled || this.closed || this.durable >= this.committed) return;
    const wait = this.lastStart + (this.opts.minIntervalMs ?? 0) - performance.now();
    if (wait >= 1) {
      this.scheduled = true;
      setTimeout(() => {
        this.scheduled = false;
        this.startSync();
      }, wait);
      return;
    }
    this.startSync();
  }

  private startSync(): void {
    if (this.inFlight || this.closed || this.durable >= this.committed) return;
    this.inFlight = true;
    this.lastStart = performance.now();
    // Every commit counted so far has finished: the fdatasync below starts after all of them.
    const upTo = this.committed;
    const start = () =>
      fdatasync(this.fd, (err) => {
        this.inFlight = false;
        if (err) this.fail(err);
        else this.reached(upTo);
        for (const r of this.idleWaiters.splice(0)) r();
        for (const f of this.afterSyncs.splice(0)) f();
        if (!this.failure) this.kick();
      });
    if (this.opts.gate) void waitForGate(this.opts.gate).then(start);
    else start();
  }

  private reached(upTo: number): void {
    this.durable = upTo;
    let i = 0;
    while (i < this.waiters.length && this.waiters[i]!.upTo <= upTo) i++;
    for (const w of this.waiters.splice(0, i)) w.resolve();
  }

  private fail(err: unknown): void {
    // After a failed fdatasync the kernel may have dropped the dirty pages: a later one
    // could succeed without them. Every waiting and later commit is refused instead.
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

/** Test hook only: waits (polling, 5 ms) while the gate file exists, flagging `<gate>.held`. */
async function waitForGate(gate: string): Promise<void> {
  if (!existsSync(gate)) return;
  writeFileSync(`${gate}.held`, '');
  while (existsSync(gate)) await new Promise((r) => setTimeout(r, 5));
  rmSync(`${gate}.held`, { force: true });
}

/**
 * Makes async methods of `target` durable-aware, in place: each first waits until every
 * earlier commit is durable (what it reads may leave the process), and one that changed
 * rows (`changes`, SQLite's total_changes) resolves only once its own commit is durable.
 * For the store's direct (non-grouped) statements: threads, outbox, ingest state. `self`:
 * the object the originals run on (their calls to each other then stay unwrapped).
 */
export function durableCalls(target: object, names: readonly string[], d: WalDurability, changes: () => number, self: object = target): void {
  const t = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of names) {
    const call = t[name]!.bind(self);
    t[name] = async (...args: unknown[]) => {
      await d.settled();
      const before = changes();
      // Statements run synchronously inside `call`: count its changes before anything else runs.
      const pending = call(...args);
      const wrote = changes() !== before;
      const result = await pending;
      if (wrote) await d.committedNow();
      return result;
    };
  }
}

/**
 * A view of `inner` whose async methods (all a class declares but the constructor and
 * `except`) are durable-aware; `inner`'s own calls to its methods, e.g. inside its
 * transactions, stay as they were.
 */
export function durableView<T extends object>(inner: T, except: readonly string[], d: WalDurability, changes: () => number): T {
  const view = Object.create(inner) as T;
  durableCalls(view, asyncMethodsOf(Object.getPrototypeOf(inner), except), d, changes, inner);
  return view;
}

function asyncMethodsOf(proto: object, except: readonly string[] = []): string[] {
  return Object.getOwnPropertyNames(proto).filter(
    (n) => n !== 'constructor' && !except.includes(n) && typeof (proto as Record<string, unknown>)[n] === 'function',
  );
}
