/**
 * A room's intake: client updates wait here until the next flush takes them, bounded. A
 * connection (or the room) with too much queued stops being read — TCP pushes back on the
 * peer — until a flush has taken its updates; nothing is dropped and nobody is closed for
 * being fast. A flush takes at most `maxBatchBytes` (one larger update, a backlog, goes
 * alone), so no log row outgrows that bound, and no commit blocks the loop for long.
 */
import type { SyncConnection } from './sync-connection.ts';
import { type DecodedUpdate, decodeUpdate } from './policy/update-policy.ts';

/** A client update waiting for a flush. */
export interface Pending {
  conn: SyncConnection;
  update: Uint8Array;
  /** The peer's first sync step 2 (offline backlog): exempt from the message rate. */
  backlog: boolean;
  /**
   * A part of a large backlog cut before the room saw it (off the event loop,
   * backlog-precut.ts): the messages it holds (at most), and those left out of it, for which
   * the connection is closed 4529 once the part is applied.
   */
  precut?: { messages: number; deferred: number };
  /** The update decoded once, for the sealed-author look-up and the policy (undefined: not yet; null: undecodable). */
  decoded?: DecodedUpdate | null;
  /** Its receipts' unknown message ids were looked up in the store already (room-admission.ts). */
  lookedUp?: boolean;
}

export interface IntakeLimits {
  /** Bytes of updates one flush commits together (a single larger update goes alone). */
  maxBatchBytes: number;
  /** Queued bytes per connection before its socket is paused. */
  maxQueuedBytesPerConn: number;
  /** Queued updates per connection before its socket is paused. */
  maxQueuedUpdatesPerConn: number;
  /** Queued bytes per room before every sender's socket is paused. */
  maxQueuedBytes: number;
}

/** Default bounds from the frame limit (server/config: SKEIN_MAX_FRAME_BYTES). */
export function intakeLimits(maxFrameBytes: number): IntakeLimits {
  return {
    maxBatchBytes: 4 * maxFrameBytes,
    maxQueuedBytesPerConn: 2 * maxFrameBytes,
    maxQueuedUpdatesPerConn: 256,
    maxQueuedBytes: 8 * maxFrameBytes,
  };
}

export class RoomIntake {
  private queue: Pending[] = [];
  private bytes = 0;
  private readonly perConn = new Map<SyncConnection, { bytes: number; updates: number }>();
  private readonly paused = new Set<SyncConnection>();

  constructor(private readonly limits: IntakeLimits) {}

  /** Updates waiting. */
  get size(): number {
    return this.queue.length;
  }

  /** Bytes waiting. */
  get queuedBytes(): number {
    return this.bytes;
  }

  push(p: Pending): void {
    this.queue.push(p);
    const n = p.update.byteLength;
    this.bytes += n;
    const c = this.perConn.get(p.conn) ?? { bytes: 0, updates: 0 };
    c.bytes += n;
    c.updates += 1;
    this.perConn.set(p.conn, c);
    const l = this.limits;
    if (c.bytes > l.maxQueuedBytesPerConn || c.updates > l.maxQueuedUpdatesPerConn) this.pause(p.conn);
    if (this.bytes > l.maxQueuedBytes) for (const conn of this.perConn.keys()) this.pause(conn);
  }

  /** Puts updates back at the head of the queue (their receipts were looked up meanwhile). */
  requeue(ps: Pending[]): void {
    for (const p of ps.reverse()) {
      this.queue.unshift(p);
      this.bytes += p.update.byteLength;
      const c = this.perConn.get(p.conn) ?? { bytes: 0, updates: 0 };
      c.bytes += p.update.byteLength;
      c.updates += 1;
      this.perConn.set(p.conn, c);
    }
  }

  /** The next batch: queued updates in arrival order, up to `maxBatchBytes` (at least one). */
  take(): Pending[] {
    let taken = 0;
    let bytes = 0;
    while (taken < this.queue.length) {
      const n = this.queue[taken]!.update.byteLength;
      if (taken > 0 && bytes + n > this.limits.maxBatchBytes) break;
      bytes += n;
      taken++;
    }
    const batch = this.queue.slice(0, taken);
    this.queue = this.queue.slice(taken);
    this.bytes -= bytes;
    for (const p of batch) {
      const c = this.perConn.get(p.conn)!;
      c.bytes -= p.update.byteLength;
      c.updates -= 1;
      if (c.updates === 0) this.perConn.delete(p.conn);
    }
    this.resumeBelowLimits();
    return batch;
  }

  /** Forgets a connection that left (its queued updates are dropped: it resends on reconnect). */
  drop(conn: SyncConnection): void {
    if (!this.perConn.has(conn)) return;
    const kept = this.queue.filter((p) => p.conn !== conn);
    for (const p of this.queue) if (p.conn === conn) this.bytes -= p.update.byteLength;
    this.queue = kept;
    this.perConn.delete(conn);
    this.paused.delete(conn);
  }

  /** Empties the intake (the room is closing); paused sockets are let go with their connections. */
  clear(): void {
    this.queue = [];
    this.bytes = 0;
    this.perConn.clear();
    this.paused.clear();
  }

  private pause(conn: SyncConnection): void {
    if (this.paused.has(conn)) return;
    this.paused.add(conn);
    conn.pauseReading();
  }

  private resumeBelowLimits(): void {
    if (this.paused.size === 0 || this.bytes > this.limits.maxQueuedBytes) return;
    for (const conn of [...this.paused]) {
      const c = this.perConn.get(conn);
      if (c && (c.bytes > this.limits.maxQueuedBytesPerConn || c.updates > this.limits.maxQueuedUpdatesPerConn)) continue;
      this.paused.delete(conn);
      conn.resumeReading();
    }
  }
}

/** `p`'s update decoded, once for the sealed-author look-up and the policy. */
export function decodedOf(p: Pending): DecodedUpdate | null {
  if (p.decoded === undefined) p.decoded = decodeUpdate(p.update);
  return p.decoded;
}
