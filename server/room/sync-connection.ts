/**
 * One WebSocket peer of a thread: decodes its frames, hands updates to the room,
 * answers sync step 1 and awareness queries, and keeps the socket alive with pings.
 */
import type { WebSocket } from 'ws';
import * as Y from 'yjs';
import { CloseCode, rateLimitReason } from '../../shared/errors.ts';
import type { Limits } from '../config/config.ts';
import type { Logger } from '../ops/logger.ts';
import { Heartbeat } from '../ops/heartbeat.ts';
import { TokenBucket } from '../ops/rate-limit.ts';
import { MalformedFrameError, decodeFrame, encodeSyncStep1, encodeSyncStep2 } from './sync-protocol.ts';

/** What a connection needs of the room it joined (thread-room.ts implements it). */
export interface ConnectionRoom {
  readonly doc: Y.Doc;
  /** Runs `task` once what the room holds is stored (sync step 1 answers). */
  afterStored(task: () => void): void;
  receiveUpdate(conn: SyncConnection, update: Uint8Array, backlog?: boolean): void;
  /**
   * The peer's offline backlog (first sync step 2); one larger than `partBytes` is cut off
   * the event loop to the part the room takes now (backlog-offload.ts). Settles once it (or
   * that part) is queued, or the backlog refused.
   */
  receiveBacklog(conn: SyncConnection, update: Uint8Array, partBytes: number): Promise<void>;
  receiveAwareness(conn: SyncConnection, update: Uint8Array): void;
  sendAwarenessStates(conn: SyncConnection): void;
  leave(conn: SyncConnection): void;
}

export interface SyncConnectionOptions {
  pingIntervalMs: number;
  limits: Limits;
}

export class SyncConnection {
  /** Awareness client ids this connection has set, removed when it closes. */
  readonly awarenessIds = new Set<number>();
  private room: ConnectionRoom | null = null;
  private early: Uint8Array[] = [];
  private earlyBytes = 0;
  /** A frame over the live limit was let through as the backlog; only one ever is. */
  private sawLargeBacklog = false;
  /** Pings sent since the peer last showed life (a pong or any frame). */
  private missedPings = 0;
  private closed = false;
  private relayClosed = false;
  private sawStep2 = false;
  /** A large backlog is being cut off the loop: later frames wait in `early`, in order. */
  private offloading = false;
  /** The room's intake asked that this socket not be read. */
  private intakePaused = false;
  /** Leaves the process's ping heartbeat (ops/heartbeat.ts). */
  private readonly stopPinging: () => void;
  private readonly updateBucket: TokenBucket;

  constructor(
    private readonly ws: WebSocket,
    readonly userId: string,
    readonly threadId: string,
    private readonly log: Logger,
    private readonly opts: SyncConnectionOptions,
  ) {
    ws.on('pong', () => {
      this.missedPings = 0;
    });
    // Two unanswered pings, not one: a relay busy for a whole interval handles a pong
    // after its timer and would otherwise drop a live peer.
    this.stopPinging = Heartbeat.every(opts.pingIntervalMs).add(() => {
      if (this.missedPings >= 2) return this.close(CloseCode.UNRESPONSIVE, 'ping timeout', true);
      this.missedPings++;
      ws.ping();
    });
    const l = opts.limits;
    this.updateBucket = new TokenBucket(l.updatesPerSecond, 2 * l.updatesPerSecond);
  }

  /** True once the relay closed this connection (its queued updates must not be applied). */
  get closedByRelay(): boolean {
    return this.relayClosed;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Attaches the loaded room: greets the peer and replays frames that came first. */
  attach(room: ConnectionRoom): void {
    if (this.closed) return;
    this.room = room;
    this.send(encodeSyncStep1(Y.encodeStateVector(room.doc)));
    room.sendAwarenessStates(this);
    const early = this.early;
    this.early = [];
    for (const f of early) this.handle(f);
  }

  /** Handles one incoming frame. Text frames and undecodable bytes close the socket. */
  receive(data: Uint8Array | string): void {
    if (this.closed) return;
    this.missedPings = 0;
    if (typeof data === 'string') return this.close(CloseCode.MALFORMED, 'text frames are not accepted');
    const { maxFrameBytes, maxBacklogBytes } = this.opts.limits;
    if (data.byteLength > maxFrameBytes && !(this.mayBeBacklog(data) && data.byteLength <= maxBacklogBytes)) {
      return this.close(CloseCode.TOO_LARGE, 'frame too large');
    }
    if (!this.room || this.offloading) {
      // Frames that arrive while the document loads (or a backlog is cut) wait here, bounded.
      this.earlyBytes += data.byteLength;
      if (this.early.length >= 256 || this.earlyBytes > 4 * maxFrameBytes + maxBacklogBytes) {
        return this.close(CloseCode.RATE_LIMITED, 'too many frames before sync');
      }
      this.early.push(data);
      return;
    }
    this.handle(data);
  }

  /** Decodes and dispatches a frame that passed the size checks. */
  private handle(data: Uint8Array): void {
    const room = this.room;
    if (this.closed || !room) return;
    // Frames that came with the backlog (replayed after attach) still wait behind it.
    if (this.offloading) return void this.early.push(data);
    let frame;
    try {
      frame = decodeFrame(data);
    } catch (e) {
      const reason = e instanceof MalformedFrameError ? e.message : 'malformed frame';
      return this.close(CloseCode.MALFORMED, reason);
    }
    // Step 1 answers cost a full state encoding: they count against the update rate.
    if ((frame.kind === 'sync-step1' || frame.kind === 'query-awareness') && !this.updateBucket.take()) {
      return this.close(CloseCode.RATE_LIMITED, 'too many sync requests');
    }
    switch (frame.kind) {
      case 'sync-step1': {
        // The document may hold a batch whose commit is under way: answer once it is durable.
        const sv = frame.stateVector;
        return room.afterStored(() => {
          if (this.closed) return;
          try {
            this.send(encodeSyncStep2(Y.encodeStateAsUpdate(room.doc, sv)));
          } catch {
            this.close(CloseCode.MALFORMED, 'invalid state vector');
          }
        });
      }
      case 'update': {
        // The first sync step 2 carries the peer's offline backlog: it is exempt from
        // the rates, so a long backlog cannot turn into a reconnect loop.
        const backlog = frame.step2 && !this.sawStep2;
        if (frame.step2) this.sawStep2 = true;
        if (!backlog && !this.updateBucket.take()) return this.close(CloseCode.RATE_LIMITED, 'too many updates');
        if (backlog) return this.offload(room, frame.update);
        return room.receiveUpdate(this, frame.update);
      }
      case 'awareness':
        if (frame.update.byteLength > this.opts.limits.maxAwarenessBytes) {
          return this.close(CloseCode.TOO_LARGE, 'awareness state too large');
        }
        return room.receiveAwareness(this, frame.update);
      case 'query-awareness':
        return room.sendAwarenessStates(this);
    }
  }

  /**
   * Hands the backlog to the room, which may reserve a shared budget for it or cut it off the
   * event loop first; this peer's later frames wait (and its socket is not read) until it is
   * queued, so they stay behind it.
   */
  private offload(room: ConnectionRoom, update: Uint8Array): void {
    this.offloading = true;
    this.ws.pause();
    const done = () => {
      this.offloading = false;
      const held = this.early;
      this.early = [];
      this.earlyBytes = 0;
      for (const f of held) this.handle(f);
      if (!this.closed && !this.intakePaused && !this.offloading) this.ws.resume();
    };
    room.receiveBacklog(this, update, this.opts.limits.backlogPartBytes).then(done, (err) => {
      this.log.error({ event: 'backlog_cut_failed', threadId: this.threadId, err: String(err) }, 'cutting an offline backlog failed');
      // Transient: the next step 2 carries the same backlog.
      this.close(CloseCode.RATE_LIMITED, rateLimitReason('offline backlog not taken', 1000));
    });
  }

  /** Whether a frame may be this connection's first sync step 2 (its offline backlog). */
  private mayBeBacklog(data: Uint8Array): boolean {
    if (this.sawStep2 || this.sawLargeBacklog || data[0] !== 0 || data[1] !== 1) return false;
    this.sawLargeBacklog = true;
    return true;
  }

  /** Stops reading the socket (the room's intake is full): TCP pushes back on the peer. */
  pauseReading(): void {
    this.intakePaused = true;
    if (!this.closed) this.ws.pause();
  }

  /** Reads the socket again once the room's intake has room. */
  resumeReading(): void {
    this.intakePaused = false;
    if (!this.closed && !this.offloading) this.ws.resume();
  }

  /** Sends a frame, dropping a peer that cannot keep up instead of buffering without bound. */
  send(frame: Uint8Array): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.opts.limits.maxBufferedBytes) {
      return this.close(CloseCode.UNRESPONSIVE, 'peer too slow', true, { bufferedBytes: this.ws.bufferedAmount });
    }
    this.ws.send(frame);
  }

  /**
   * Closes with a documented code. `terminate` skips the closing handshake (for dead or
   * flooded sockets). Logs code, thread and user — never frame contents.
   */
  close(code: number, reason: string, terminate = false, extra: Record<string, number> = {}): void {
    if (this.closed) return;
    this.relayClosed = true;
    this.log.info({ event: 'ws_close', code, reason, threadId: this.threadId, userId: this.userId, ...extra }, 'closing sync connection');
    this.ws.close(code, reason);
    // A paused socket (intake full, backlog being cut) would never read the peer's close
    // frame: the handshake, and the peer's reconnect, would wait for ws's 30 s timeout.
    this.ws.resume();
    if (terminate) this.ws.terminate();
    this.onClosed();
  }

  /** Called when the socket is gone, whoever closed it. */
  onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPinging();
    this.early = [];
    this.room?.leave(this);
  }
}
