/**
 * A loaded thread: the relay's Y.Doc, its awareness, and its connections.
 *
 * Incoming updates are queued and flushed once per event-loop turn: each update is
 * checked against the document policy (update-policy.ts) before it is applied; the
 * accepted ones are committed in one storage transaction that also assigns seqs; once seqs
 * are assigned, the relay writes its own transaction (canon, tombstones of messages refused
 * by business rules, receipt maxima), stored with the batch (batch-frames.ts). Only then
 * does the batch go to the peers, as one update.
 *
 * Its parts live in room/: admission (policy, held updates), remote (other instances'
 * updates, catch-up), ingest (AT messages appended), relay-writes (canon, meta, fixes),
 * and the chain that runs the room's work one task at a time.
 */
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { type MessageRecord, type ThreadRoots, threadRoots } from '../../shared/schema.ts';
import { inDocumentOrder } from './document-order.ts';
import type { Logger } from '../ops/logger.ts';
import { GenerationSealedError, type RelayRow, type Store, type StoredMessage, type ThreadRow } from '../store/store.ts';
import { batchRow, mergeAll, sendBatch } from './batch-frames.ts';
import { SyncConnection } from './sync-connection.ts';
import { RoomPresence } from './room-presence.ts';
import { RelayUpdates } from './relay-updates.ts';
import { canonFixes, sequencedBefore } from './canon-repair.ts';
import { encodeUpdate } from './sync-protocol.ts';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from '../../shared/stream.ts';
import { StreamWatch } from './stream-watch.ts';
import { shouldRoll } from './generation-roll.ts';
import type { ThreadFanoutMessage } from '../fanout/fanout.ts';
import { RoomFanout } from '../fanout/room-fanout.ts';
import type { Collecting, IngestedMessage, Pending, ThreadRoomOptions } from './room-types.ts';
import { writeAfterCommit, writeCanon, writeMeta } from './relay-writes.ts';
import { RoomChain } from './room-chain.ts';
import { INGEST_ORIGIN, LOAD_ORIGIN, RELAY_ORIGIN, REMOTE_ORIGIN, type RoomHost } from './room-host.ts';
import { RoomAdmission } from './room-admission.ts';
import { RoomRemote } from './room-remote.ts';
import { appendByRelay } from './room-ingest.ts';
import { RoomSeal } from './room-seal.ts';
import { RoomLog } from './room-log.ts';

export type { IngestedMessage, ThreadRoomOptions } from './room-types.ts';
export { RoomSealedError } from './room-types.ts';

export class ThreadRoom {
  readonly doc = new Y.Doc();
  readonly roots: ThreadRoots = threadRoots(this.doc);
  readonly conns = new Set<SyncConnection>();
  /** Presence (awareness) of the room's connections, and of other instances' peers. */
  readonly presence: RoomPresence;
  /** Called when the last connection leaves. */
  onEmpty: (room: ThreadRoom) => void = () => {};
  /** Called when the room can no longer be trusted (storage failed) and must be dropped. */
  onBroken: (room: ThreadRoom) => void = () => {};
  /** Called once the room sealed its generation (every connection got 4410): drop it. */
  onSealed: (room: ThreadRoom) => void = () => {};

  private queue: Pending[] = [];
  private scheduled = false;
  private readonly chain: RoomChain;
  private readonly updateLog: RoomLog;
  /** While set, relay-authored updates are collected here for the commit in progress. */
  private captured: Uint8Array[] | null = null;
  /** The relay's own updates, stored before peers see them (relay-updates.ts). */
  private readonly relayUpdates: RelayUpdates;
  /** Ids accepted into the document whose canon is not written yet. */
  private readonly uncanonIds = new Set<string>();
  private readonly streamLimits: StreamLimits;
  /** Interrupts streams whose author went quiet (started once the log is loaded). */
  private streamWatch: StreamWatch | null = null;
  /** This generation's end: rolled here or elsewhere (room/room-seal.ts). */
  private readonly seal: RoomSeal;
  /** This room's side of the fan-out to other instances; null when the relay runs alone. */
  private readonly fan: RoomFanout | null;
  /** The next flush retries held updates even without new ones (after a catch-up). */
  private retryRequested = false;
  /** What the parts below see of this room. */
  private readonly host: RoomHost;
  private readonly admission: RoomAdmission;
  private readonly remote: RoomRemote;

  private constructor(
    public thread: ThreadRow,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: ThreadRoomOptions,
  ) {
    this.doc.on('update', this.onDocUpdate);
    this.updateLog = new RoomLog(
      { doc: this.doc, store, log, thread: () => this.thread, sealedOnWrite: (err) => this.seal.onWriteRefused(err) },
      opts.compactAfterUpdates,
    );
    this.chain = new RoomChain((err) => this.log.error({ event: 'room_task_failed', threadId: this.id, err: String(err) }, 'room task failed'));
    // A relay alone (in-process fan-out reaching nobody) keeps the single-instance path as it is.
    this.fan = opts.fanout && opts.fanout.status() !== 'off' ? new RoomFanout(opts.fanout, thread.id) : null;
    this.presence = new RoomPresence(this.doc, this.conns, this.fan ? (u) => this.fan!.publishAwareness(u) : undefined);
    this.relayUpdates = new RelayUpdates(store, thread.id, thread.generation, {
      broadcast: (u) => {
        this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, u);
        const frame = encodeUpdate(u);
        for (const c of this.conns) c.send(frame);
      },
      failed: (err) => {
        if (err instanceof GenerationSealedError) return void this.seal.onWriteRefused(err);
        this.storageFailed('append_failed', err, 'storing relay update failed');
      },
      stored: () => this.updateLog.added(1),
    });
    this.seal = new RoomSeal({
      roots: this.roots,
      conns: this.conns,
      store,
      log,
      fan: this.fan,
      relayUpdates: this.relayUpdates,
      thread: () => this.thread,
      setThread: (row) => (this.thread = row),
      done: () => this.onSealed(this),
    });
    this.streamLimits = opts.streamLimits ?? DEFAULT_STREAM_LIMITS;
    this.host = {
      doc: this.doc,
      roots: this.roots,
      conns: this.conns,
      store,
      log,
      opts,
      fan: this.fan,
      chain: this.chain,
      uncanonIds: this.uncanonIds,
      thread: () => this.thread,
      sealed: () => this.seal.sealed,
      writeCanon: (m) => this.writeCanon(m),
      syncMeta: (t) => this.syncMeta(t),
      repairCanon: () => this.repairCanon(),
      addedRows: (n) => this.updateLog.added(n),
      requestRetry: () => this.requestRetry(),
      catchUp: () => this.catchUp(),
      sealFromElsewhere: (row) => this.seal.fromElsewhere(row),
      sealedOnWrite: (err) => this.seal.onWriteRefused(err),
      storageFailed: (event, err, message) => this.storageFailed(event, err, message),
    };
    this.admission = new RoomAdmission(this.host);
    this.remote = new RoomRemote(this.host, () => this.admission.heldCount);
  }

  get id(): string {
    return this.thread.id;
  }

  /** The generation this room holds (its document is `thread.liveDoc`). */
  get generation(): number {
    return this.thread.generation;
  }

  /** Loads a thread's log into a fresh document and repairs canon/meta from the store. */
  static async load(thread: ThreadRow, store: Store, log: Logger, opts: ThreadRoomOptions): Promise<ThreadRoom> {
    // The caller's row may predate a roll: the log holds the newest generation.
    const room = new ThreadRoom((await store.getThread(thread.id)) ?? thread, store, log, opts);
    const { updates } = await store.loadUpdates(thread.id);
    room.updateLog.added(updates.length);
    room.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(room.doc, u, LOAD_ORIGIN);
    }, LOAD_ORIGIN);
    room.syncMeta(room.thread);
    await room.repairCanon();
    room.streamWatch = new StreamWatch(room.doc, room.roots.streams, room.streamLimits.streamIdleMs, RELAY_ORIGIN);
    return room;
  }

  /** Writes thread metadata into `meta` where it differs from the store. */
  syncMeta(thread: ThreadRow): void {
    if (this.seal.sealed || thread.generation !== this.thread.generation) return;
    this.thread = thread;
    writeMeta(this.doc, this.roots, thread);
  }

  /**
   * Makes `canon` agree with the stored messages. A crash between a commit and the
   * canon update leaves canon behind; the store is the truth.
   */
  async repairCanon(): Promise<void> {
    const fixes = await canonFixes(this.store, this.id, this.thread.baseSeq, this.roots);
    if (fixes.length) this.writeCanon(fixes);
  }

  /**
   * Updates canon entries of stored messages whose record is in the live document (state
   * changes from the AT bridge); sealed messages are rows only and are not touched.
   */
  publishCanon(messages: StoredMessage[]): void {
    if (this.seal.sealed) return;
    this.writeCanon(messages.filter((m) => m.seq > this.thread.baseSeq || this.roots.canon.has(m.id)));
  }

  /** Writes canon entries for stored messages (relay-authored, persisted, sent to all). */
  private writeCanon(messages: StoredMessage[]): void {
    writeCanon(this.doc, this.roots, messages);
  }

  /** Adds a connection for `generation` (the document name it asked for); an older one gets 4410. */
  join(conn: SyncConnection, generation = this.thread.generation): void {
    if (conn.isClosed) {
      // It went away while the room loaded: kept, it would hold the room loaded for good.
      if (this.conns.size === 0) this.onEmpty(this);
      return;
    }
    if (this.seal.sealed || generation !== this.thread.generation) {
      conn.close(CloseCode.GENERATION_SEALED, this.seal.reason);
      return;
    }
    this.conns.add(conn);
    conn.attach(this);
  }

  leave(conn: SyncConnection): void {
    this.admission.drop(conn);
    if (!this.conns.delete(conn)) return;
    this.presence.leave(conn);
    if (this.conns.size === 0) this.onEmpty(this);
  }

  receiveUpdate(conn: SyncConnection, update: Uint8Array, backlog = false): void {
    if (this.seal.sealed) return;
    this.queue.push({ conn, update, backlog });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.chain.add(() => this.flush());
    });
  }

  /**
   * Runs `task` once the room's work queued so far is done: the document then holds only
   * what is stored and durable (a flush applies a batch before its commit).
   */
  afterStored(task: () => void): void {
    this.chain.add(task);
  }

  receiveAwareness(conn: SyncConnection, update: Uint8Array): void {
    this.presence.receive(conn, update);
  }

  sendAwarenessStates(conn: SyncConnection): void {
    this.presence.sendStates(conn);
  }

  /** Resolves once every queued update has been committed and forwarded. */
  async idle(): Promise<void> {
    const busy = () => this.scheduled || this.queue.length > 0 || this.relayUpdates.pending;
    do {
      while (busy()) await new Promise((r) => setImmediate(r));
      await this.chain.idle();
      await this.relayUpdates.idle();
    } while (busy());
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const retry = this.retryRequested;
    this.retryRequested = false;
    if ((batch.length === 0 && !retry) || this.seal.sealed) return;
    const refused = batch.length ? this.opts.refuseWrites?.() : null;
    if (refused) {
      // Nothing of the batch is applied: each sender keeps its update and resends it on reconnect.
      for (const p of batch) p.conn.close(CloseCode.BACKEND_UNAVAILABLE, refused);
      this.log.warn({ event: 'writes_refused', threadId: this.id, updates: batch.length }, refused);
      return;
    }
    const collecting = this.admission.collect(batch, retry);
    const { produced } = collecting;
    if (produced.length === 0) return;
    const candidates = inDocumentOrder(this.doc, collecting.candidates).map(({ client: _c, clock: _k, ...c }) => c);
    const clientUpdates = produced.map((p) => p.update);
    let row: RelayRow | null = null;
    const relayRow = (s: StoredMessage[]): RelayRow => (row = batchRow(clientUpdates, this.relayUpdateFor(s, collecting)));
    let stored: StoredMessage[];
    try {
      stored = await this.store.commitMessages(this.id, clientUpdates, candidates, Date.now(), { generation: this.thread.generation, relayRow });
    } catch (err) {
      // Another instance rolled the thread first: nothing of this batch was stored (no seq, not
      // forwarded); the peers get 4410 and re-send their pending records to the live document.
      if (err instanceof GenerationSealedError) return void (await this.seal.onWriteRefused(err));
      return this.storageFailed('commit_failed', err, 'storage commit failed');
    }
    // A store that does not call `relayRow` stored the updates as they are; canon follows on its own.
    const sent: RelayRow = row ?? batchRow(clientUpdates, null);
    this.updateLog.added(row ? 1 : produced.length);
    this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, sent.merged);
    sendBatch(this.conns, produced, sent);
    if (!row) this.relayWrites(stored, collecting);
    // Candidates sequenced in a sealed generation keep their seq (rare): canon as its own update.
    const resequenced = await sequencedBefore(this.store, this.id, candidates, stored);
    if (resequenced.length) this.writeCanon(resequenced);
    this.uncanonIds.clear();
    if (this.thread.mirror && stored.some((m) => m.state === 'sent')) this.opts.onMirroredCommit?.(this.id);
    if (stored.length) this.opts.onSequenced?.(stored);
    if (shouldRoll(this.roots, this.opts.generationMessages ?? 0)) await this.seal.roll();
    else if (this.updateLog.due) await this.compact();
  }

  /**
   * The relay's update for a commit's stored messages (called by the store once they have
   * seqs): its writes, plus relay updates still waiting to be stored, which join this row.
   */
  private relayUpdateFor(stored: StoredMessage[], c: Collecting): Uint8Array | null {
    const captured = this.relayUpdates.take();
    this.captured = captured;
    try {
      this.relayWrites(stored, c);
    } finally {
      this.captured = null;
    }
    return mergeAll(captured);
  }

  /** The relay's own writes after a commit (room/relay-writes.ts). */
  private relayWrites(stored: StoredMessage[], c: Collecting): void {
    writeAfterCommit(this.doc, this.roots, stored, c);
  }

  /** Appends messages ingested from AT (room/room-ingest.ts). */
  appendIngested(items: IngestedMessage[]): Promise<StoredMessage[]> {
    return appendByRelay(this.host, items, 'confirmed');
  }

  /** Appends a peer's messages salvaged from a sealed generation (room/sealed-salvage.ts). */
  appendSalvaged(records: MessageRecord[]): Promise<StoredMessage[]> {
    return appendByRelay(this.host, records.map((message) => ({ message })), 'sent');
  }

  /** A message from another instance's room of this thread (room/room-remote.ts). */
  receiveRemote(msg: ThreadFanoutMessage): void {
    if (msg.kind === 'awareness') {
      if (!this.seal.sealed && this.fan) this.presence.applyRemote(msg.update);
      return;
    }
    this.remote.receive(msg);
  }

  /** Re-reads the thread's stored log and applies what this document lacks. */
  catchUp(): void {
    this.remote.catchUp();
  }

  /** Storage failed: the room can no longer be trusted; every peer is closed and it is dropped. */
  private storageFailed(event: string, err: unknown, message: string): void {
    this.log.error({ event, threadId: this.id, err: String(err) }, message);
    for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
    this.onBroken(this);
  }

  /** Lets the next flush retry held updates (their missing structs may be here now). */
  private requestRetry(): void {
    this.retryRequested = true;
    this.queue.length === 0 && !this.scheduled ? this.scheduleFlush() : undefined;
  }

  /** Replaces the stored log with one snapshot of the current document. */
  compact(): Promise<void> {
    return this.updateLog.compact();
  }

  private onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOAD_ORIGIN || origin === INGEST_ORIGIN || this.seal.sealed) return;
    if (origin === REMOTE_ORIGIN) {
      // Stored by another instance already: only this instance's peers need it.
      const frame = encodeUpdate(update);
      for (const c of this.conns) c.send(frame);
      return;
    }
    if (origin instanceof SyncConnection) {
      this.admission.collecting?.produced.push({ conn: origin, update });
      return;
    }
    // Relay-authored change: stored first (with the commit that asked for it, or batched per
    // turn), then sent to every peer.
    if (this.captured) this.captured.push(update);
    else this.relayUpdates.push(update);
  };

  /** Waits for pending work, compacts, and frees the document. */
  async unload(): Promise<void> {
    // Nobody is connected: a stream left open now would never finish.
    if (!this.seal.sealed) this.streamWatch?.sweep(Date.now(), true);
    this.streamWatch?.destroy();
    this.remote.destroy();
    this.fan?.close();
    await this.idle();
    // A sealed generation's log was replaced by the next one's: never write it back.
    if (this.updateLog.rows > 1 && !this.seal.sealed) await this.compact();
    this.presence.destroy();
    this.doc.destroy();
  }
}
