/**
 * A loaded thread: the relay's Y.Doc, its awareness, and its connections.
 *
 * Incoming updates are queued and flushed once per event-loop turn: each update is
 * checked against the document policy (update-policy.ts) before it is applied; the
 * accepted ones are committed in one storage transaction that also assigns seqs; once seqs
 * are assigned, the relay writes its own transaction (canon, tombstones of messages refused
 * by business rules, receipt maxima), stored with the batch (batch-frames.ts). Only then
 * does the batch go to the peers, as one update.
 */
import * as Y from 'yjs';
import { CloseCode, ErrorCode } from '../shared/errors.ts';
import { type ThreadRoots, threadRoots } from '../shared/schema.ts';
import { inDocumentOrder } from './document-order.ts';
import type { Logger } from './logger.ts';
import { GenerationSealedError, type MessageCandidate, type RelayRow, type Store, type StoredMessage, type ThreadRow } from './store/store.ts';
import { batchRow, mergeAll, sendBatch } from './batch-frames.ts';
import { SyncConnection } from './sync-connection.ts';
import { HeldUpdates } from './held-updates.ts';
import { RoomPresence } from './room-presence.ts';
import { RelayUpdates } from './relay-updates.ts';
import { canonFixes, sequencedBefore } from './canon-repair.ts';
import { encodeUpdate } from './sync-protocol.ts';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from '../shared/stream.ts';
import { StreamWatch } from './stream-watch.ts';
import { checkUpdate } from './update-policy.ts';
import { nextGeneration, shouldRoll } from './generation-roll.ts';
import type { ThreadFanoutMessage } from './fanout/fanout.ts';
import { RoomFanout } from './fanout/room-fanout.ts';
import { CanonWatch, missingCanon, storedMessages } from './canon-watch.ts';
import {
  type Collecting,
  type IngestedMessage,
  type Pending,
  type ThreadRoomOptions,
  RoomSealedError,
  canonOf,
  readAtOf,
} from './thread-room-parts.ts';

export type { IngestedMessage, ThreadRoomOptions } from './thread-room-parts.ts';
export { RoomSealedError } from './thread-room-parts.ts';

/** Transaction origin of changes the relay itself makes (canon, meta). */
export const RELAY_ORIGIN = Symbol('skein-relay');
/** Transaction origin while replaying the stored log. */
const LOAD_ORIGIN = Symbol('skein-load');
/** Transaction origin of messages the relay appends from AT ingest (stored with their seqs). */
const INGEST_ORIGIN = Symbol('skein-ingest');
/** Transaction origin of updates another relay instance stored (fan-out, catch-up): checked there already. */
const REMOTE_ORIGIN = Symbol('skein-remote');

/** Relay structs a live (non-backlog) update's delete set may cover. */
const LIVE_DELETION_WALK = 10_000;

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
  private chain: Promise<void> = Promise.resolve();
  private collecting: Collecting | null = null;
  private logRows = 0;
  /** While set, relay-authored updates are collected here for the commit in progress. */
  private captured: Uint8Array[] | null = null;
  /** The relay's own updates, stored before peers see them (relay-updates.ts). */
  private readonly relayUpdates: RelayUpdates;
  /** Ids accepted into the document whose canon is not written yet. */
  private readonly uncanonIds = new Set<string>();
  /** Updates waiting for structs the relay does not have yet, per connection. */
  private readonly held = new HeldUpdates<Pending>();
  private readonly streamLimits: StreamLimits;
  /** Interrupts streams whose author went quiet (started once the log is loaded). */
  private streamWatch: StreamWatch | null = null;
  /** Set once this generation rolled: the document is history, nothing more is applied or stored. */
  private sealed = false;
  /** This room's side of the fan-out to other instances; null when the relay runs alone. */
  private readonly fan: RoomFanout | null;
  /** A catch-up from the store is queued (at most one waits behind the running one). */
  private catchUpQueued = false;
  /** The next flush retries held updates even without new ones (after a catch-up). */
  private retryRequested = false;
  private retrying = false;
  /** Writes canon another instance committed but did not write (it died in between). */
  private readonly canonWatch = new CanonWatch(() => this.repairRemoteCanon());

  private constructor(
    public thread: ThreadRow,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: ThreadRoomOptions,
  ) {
    this.doc.on('update', this.onDocUpdate);
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
        if (err instanceof GenerationSealedError) return void this.sealedOnWrite(err);
        this.log.error({ event: 'append_failed', threadId: this.id, err: String(err) }, 'storing relay update failed');
        for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
        this.onBroken(this);
      },
      stored: () => {
        this.logRows += 1;
      },
    });
    this.streamLimits = opts.streamLimits ?? DEFAULT_STREAM_LIMITS;
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
    room.logRows = updates.length;
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
    if (this.sealed || thread.generation !== this.thread.generation) return;
    this.thread = thread;
    const meta = this.roots.meta;
    const want: Record<string, unknown> = {
      title: thread.title,
      participants: thread.participants,
      archived: thread.archived,
      createdAt: thread.createdAt,
      mirror: thread.mirror,
      generation: thread.generation,
      baseSeq: thread.baseSeq,
      ...(thread.atUri ? { atUri: thread.atUri } : {}),
    };
    const changed = Object.entries(want).filter(([k, v]) => JSON.stringify(meta.get(k)) !== JSON.stringify(v));
    if (changed.length === 0) return;
    this.doc.transact(() => {
      for (const [k, v] of changed) meta.set(k, v);
    }, RELAY_ORIGIN);
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
    if (this.sealed) return;
    this.writeCanon(messages.filter((m) => m.seq > this.thread.baseSeq || this.roots.canon.has(m.id)));
  }

  /** Writes canon entries for stored messages (relay-authored, persisted, sent to all). */
  private writeCanon(messages: StoredMessage[]): void {
    if (messages.length === 0) return;
    this.doc.transact(() => {
      for (const m of messages) this.roots.canon.set(m.id, canonOf(m));
    }, RELAY_ORIGIN);
  }

  /** Adds a connection for `generation` (the document name it asked for); an older one gets 4410. */
  join(conn: SyncConnection, generation = this.thread.generation): void {
    if (conn.isClosed) {
      // It went away while the room loaded: kept, it would hold the room loaded for good.
      if (this.conns.size === 0) this.onEmpty(this);
      return;
    }
    if (this.sealed || generation !== this.thread.generation) {
      conn.close(CloseCode.GENERATION_SEALED, this.sealedReason());
      return;
    }
    this.conns.add(conn);
    conn.attach(this);
  }

  leave(conn: SyncConnection): void {
    this.held.drop(conn);
    if (!this.conns.delete(conn)) return;
    this.presence.leave(conn);
    if (this.conns.size === 0) this.onEmpty(this);
  }

  receiveUpdate(conn: SyncConnection, update: Uint8Array, backlog = false): void {
    if (this.sealed) return;
    this.queue.push({ conn, update, backlog });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.chain = this.chain.then(() => this.flush());
    });
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
      await this.chain;
      await this.relayUpdates.idle();
    } while (busy());
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const retry = this.retryRequested;
    this.retryRequested = false;
    if ((batch.length === 0 && !retry) || this.sealed) return;
    const refused = batch.length ? this.opts.refuseWrites?.() : null;
    if (refused) {
      // Nothing of the batch is applied: each sender keeps its update and resends it on reconnect.
      for (const p of batch) p.conn.close(CloseCode.BACKEND_UNAVAILABLE, refused);
      this.log.warn({ event: 'writes_refused', threadId: this.id, updates: batch.length }, refused);
      return;
    }
    const collecting: Collecting = { produced: [], candidates: [], tombstones: [], receipts: new Map() };
    this.collecting = collecting;
    try {
      for (const p of batch) {
        if (this.admit(p) === 'pending') this.hold(p);
      }
      if (collecting.produced.length || retry) this.retryHeld();
    } finally {
      this.collecting = null;
    }
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
      if (err instanceof GenerationSealedError) return void (await this.sealedOnWrite(err));
      this.log.error({ event: 'commit_failed', threadId: this.id, err: String(err) }, 'storage commit failed');
      for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
      this.onBroken(this);
      return;
    }
    // A store that does not call `relayRow` stored the updates as they are; canon follows on its own.
    const sent: RelayRow = row ?? batchRow(clientUpdates, null);
    this.logRows += row ? 1 : produced.length;
    this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, sent.merged);
    sendBatch(this.conns, produced, sent);
    if (!row) this.relayWrites(stored, collecting);
    // Candidates sequenced in a sealed generation keep their seq (rare): canon as its own update.
    const resequenced = await sequencedBefore(this.store, this.id, candidates, stored);
    if (resequenced.length) this.writeCanon(resequenced);
    this.uncanonIds.clear();
    if (this.thread.mirror && stored.some((m) => m.state === 'sent')) this.opts.onMirroredCommit?.(this.id);
    if (stored.length) this.opts.onSequenced?.(stored);
    if (shouldRoll(this.roots, this.opts.generationMessages ?? 0)) await this.roll();
    else if (this.logRows > this.opts.compactAfterUpdates) await this.compact();
  }

  private sealedReason(): string {
    return `generation_rolled ${this.thread.liveDoc}`;
  }

  /**
   * Seals this generation (docs/data-model.md, "Windowed threads"): once the relay's own
   * updates of this generation are stored, one store transaction starts the next generation;
   * then every connection gets 4410 and the registry drops the room. A failed roll leaves
   * the generation live (it is tried again after the next commit).
   */
  private async roll(): Promise<void> {
    await this.relayUpdates.idle();
    const from = this.thread.generation;
    const { snapshot, receipts } = nextGeneration(this.roots);
    let next: ThreadRow | null;
    try {
      next = await this.store.rollGeneration(this.id, from, snapshot, receipts);
    } catch (err) {
      this.log.error({ event: 'roll_failed', threadId: this.id, err: String(err) }, 'rolling the generation failed');
      return;
    }
    const row = next ?? (await this.store.getThread(this.id).catch(() => null));
    this.sealed = true;
    this.relayUpdates.seal();
    if (row) this.thread = row;
    this.log.info({ event: 'generation_rolled', threadId: this.id, generation: this.thread.generation, baseSeq: this.thread.baseSeq }, 'generation rolled');
    // Other instances' rooms of `from` seal too (and also learn it from the store on catch-up).
    this.fan?.publishSealed(from);
    for (const c of [...this.conns]) c.close(CloseCode.GENERATION_SEALED, this.sealedReason());
    this.onSealed(this);
  }

  /**
   * Checks one update against the policy and applies it when allowed. A refused update
   * closes its connection; one with missing dependencies is reported `pending` and is
   * not applied, so nothing unchecked can ever wait inside the relay's document.
   */
  private admit(p: Pending): 'applied' | 'pending' | 'dropped' {
    const { conn } = p;
    if (conn.closedByRelay) return 'dropped';
    const verdict = checkUpdate(
      {
        doc: this.doc,
        roots: this.roots,
        userId: conn.userId,
        maxTextLength: this.opts.maxTextLength,
        streamLimits: this.streamLimits,
        isKnownMessageId: (id) => this.uncanonIds.has(id) || this.roots.canon.has(id),
        deletionWalkBudget: p.backlog ? undefined : LIVE_DELETION_WALK,
        ...(this.fan ? { isRelayClient: (c: number) => this.fan!.relayClients.has(c), otherRelays: true } : {}),
      },
      p.update,
    );
    if (!verdict.ok) {
      // Missing structs may be another instance's, lost on the way: the store has them.
      if (verdict.pending) {
        if (this.fan?.distributed && !this.retrying) this.catchUp();
        return 'pending';
      }
      this.log.warn(
        { event: 'update_refused', code: verdict.code, reason: verdict.reason, threadId: this.id, userId: conn.userId },
        'update refused by policy',
      );
      conn.close(verdict.code, verdict.reason);
      return 'dropped';
    }
    if (verdict.messages.length && !p.backlog && !conn.takeMessages(verdict.messages.length)) {
      conn.close(CloseCode.RATE_LIMITED, 'too many messages');
      return 'dropped';
    }
    const c = this.collecting!;
    // Receipts: remember the highest readAt seen (before the update may overwrite it).
    for (const [key, readAt] of verdict.receipts) {
      const before = readAtOf(this.roots.receipts.get(key));
      c.receipts.set(key, Math.max(c.receipts.get(key) ?? -Infinity, before, readAt ?? -Infinity));
    }
    const archived = this.thread.archived;
    for (const m of verdict.messages) {
      this.uncanonIds.add(m.record.id);
      const at = { client: m.client, clock: m.clock };
      c.candidates.push(archived ? { record: m.record, state: 'rejected', error: ErrorCode.THREAD_ARCHIVED, ...at } : { record: m.record, state: 'sent', ...at });
      if (archived) c.tombstones.push(m);
    }
    try {
      Y.applyUpdate(this.doc, p.update, conn);
    } catch {
      conn.close(CloseCode.MALFORMED, 'undecodable update');
      return 'dropped';
    }
    const store = this.doc.store;
    if (store.pendingStructs || store.pendingDs) {
      // The policy judged every dependency present; never keep unchecked content around.
      this.log.error({ event: 'policy_pending_mismatch', threadId: this.id, userId: conn.userId }, 'update left pending structs');
      store.pendingStructs = null;
      store.pendingDs = null;
    }
    return 'applied';
  }

  /** Keeps an update until its dependencies arrive (see held-updates.ts). */
  private hold(p: Pending): void {
    if (p.conn.isClosed) return;
    if (!this.held.hold(p)) p.conn.close(CloseCode.RATE_LIMITED, 'too many updates with missing dependencies');
  }

  /** Retries held updates until no more of them can be applied. */
  private retryHeld(): void {
    // A retry that stays pending does not ask for another catch-up (a forgery would loop).
    this.retrying = true;
    try {
      this.held.retry((p) => this.admit(p));
    } finally {
      this.retrying = false;
    }
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

  /**
   * The relay's own writes after a commit, in one transaction: canon for the stored
   * messages, tombstones for messages refused by business rules (archived thread), and
   * receipts put back to their maximum where a lower `readAt` won the Yjs merge.
   */
  private relayWrites(stored: StoredMessage[], c: Collecting): void {
    const fixes: Array<[string, number]> = [];
    for (const [key, max] of c.receipts) {
      if (max === -Infinity) continue;
      if (readAtOf(this.roots.receipts.get(key)) < max) fixes.push([key, max]);
    }
    if (stored.length === 0 && c.tombstones.length === 0 && fixes.length === 0) return;
    this.doc.transact((tr) => {
      for (const m of c.tombstones) {
        const id = Y.createID(m.client, m.clock);
        Y.getItemCleanStart(tr, id);
        const item = Y.getItemCleanEnd(tr, this.doc.store, id);
        if (item instanceof Y.Item && !item.deleted) item.delete(tr);
      }
      this.writeCanon(stored); // nested: joins this transaction
      for (const [key, readAt] of fixes) this.roots.receipts.set(key, { readAt });
    }, RELAY_ORIGIN);
  }

  /**
   * Appends messages ingested from AT, in order, skipping ids the thread already has. Runs
   * in the same chain as client updates; the update and the message rows (state `confirmed`:
   * they are records already, never mirrored again) are stored in one commit, then peers
   * get the update and the canon entries.
   */
  appendIngested(items: IngestedMessage[]): Promise<StoredMessage[]> {
    const run = async (): Promise<StoredMessage[]> => {
      if (this.sealed) throw new RoomSealedError(this.id);
      const ids = new Set<string>();
      const fresh = items.filter((i) => {
        const id = i.message.id;
        if (ids.has(id) || this.roots.canon.has(id) || this.uncanonIds.has(id)) return false;
        ids.add(id);
        return true;
      });
      if (fresh.length === 0) return [];
      let update: Uint8Array | null = null;
      const capture = (u: Uint8Array, origin: unknown) => {
        if (origin === INGEST_ORIGIN) update = u;
      };
      this.doc.on('update', capture);
      try {
        this.doc.transact(() => this.roots.messages.push(fresh.map((i) => i.message)), INGEST_ORIGIN);
      } finally {
        this.doc.off('update', capture);
      }
      const candidates = fresh.map((i): MessageCandidate => ({ record: i.message, state: 'confirmed', atUri: i.atUri, atCid: i.atCid }));
      let stored: StoredMessage[];
      try {
        stored = await this.store.commitMessages(this.id, [update!], candidates, Date.now(), { generation: this.thread.generation });
      } catch (err) {
        if (err instanceof GenerationSealedError) {
          await this.sealedOnWrite(err);
          throw new RoomSealedError(this.id);
        }
        this.log.error({ event: 'commit_failed', threadId: this.id, err: String(err) }, 'storing ingested messages failed');
        for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
        this.onBroken(this);
        throw err;
      }
      this.logRows += 1;
      this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, update!);
      const frame = encodeUpdate(update!);
      for (const c of this.conns) c.send(frame);
      this.writeCanon(stored);
      if (stored.length) this.opts.onSequenced?.(stored);
      return stored;
    };
    const p = this.chain.then(run);
    this.chain = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  /**
   * A message from another instance's room of this thread. Its updates were checked and
   * stored there: they are applied as they are (not through the policy) and forwarded to
   * this instance's peers. A missed message (counter jump) or an update this document
   * cannot integrate triggers a catch-up from the store.
   */
  receiveRemote(msg: ThreadFanoutMessage): void {
    if (this.sealed || !this.fan) return;
    if (msg.kind === 'awareness') return this.presence.applyRemote(msg.update);
    if (msg.kind === 'refresh') return this.refreshFromStore();
    if (msg.kind === 'gap') return this.catchUp();
    if (msg.kind === 'position') {
      if (msg.generation === this.thread.generation && this.fan.behind(msg)) this.catchUp();
      return;
    }
    if (msg.kind === 'sealed') {
      if (msg.generation >= this.thread.generation) void this.sealFromElsewhere();
      return;
    }
    if (msg.generation !== this.thread.generation) {
      if (msg.generation > this.thread.generation) void this.sealFromElsewhere();
      return;
    }
    const gap = this.fan.received(msg);
    this.canonWatch.poke();
    if (!this.applyRemote([msg.update]) || gap) this.catchUp();
    else if (this.held.size > 0) this.requestRetry();
  }

  /** Applies stored updates; false when some could not be integrated (missing structs). */
  private applyRemote(updates: Uint8Array[]): boolean {
    try {
      this.doc.transact(() => {
        for (const u of updates) Y.applyUpdate(this.doc, u, REMOTE_ORIGIN);
      }, REMOTE_ORIGIN);
    } catch (err) {
      this.log.error({ event: 'remote_apply_failed', threadId: this.id, err: String(err) }, 'applying a fanned-out update failed');
      return false;
    }
    const store = this.doc.store;
    if (!store.pendingStructs && !store.pendingDs) return true;
    // Never keep half-integrated content: the catch-up brings the whole log.
    store.pendingStructs = null;
    store.pendingDs = null;
    return false;
  }

  /**
   * Re-reads the thread's stored log and applies what this document lacks (the diff goes
   * to the peers). Runs in the room's chain; calls while one waits are merged into it.
   */
  catchUp(): void {
    if (this.catchUpQueued || this.sealed) return;
    this.catchUpQueued = true;
    this.chain = this.chain.then(async () => {
      this.catchUpQueued = false;
      if (this.sealed) return;
      try {
        // Log first, then the row: a roll replaces both in one transaction, so a log read
        // before the roll is seen with the old generation, and one after with the new.
        const { updates } = await this.store.loadUpdates(this.id);
        const row = await this.store.getThread(this.id);
        if (row && row.generation !== this.thread.generation) return void (await this.sealFromElsewhere(row));
        this.applyRemote(updates);
        this.canonWatch.poke();
        this.log.debug({ event: 'caught_up', threadId: this.id, rows: updates.length }, 'caught up from the store');
      } catch (err) {
        this.log.warn({ event: 'catch_up_failed', threadId: this.id, err: String(err) }, 'catching up from the store failed');
      }
      if (this.held.size > 0) this.requestRetry();
    });
  }

  /** Writes canon, from the store, for messages applied from other instances that still lack it. */
  private repairRemoteCanon(): void {
    if (this.sealed) return;
    const missing = missingCanon(this.roots, this.uncanonIds);
    if (missing.length === 0) return;
    this.chain = this.chain.then(async () => {
      if (this.sealed) return;
      try {
        const fixes = (await storedMessages(this.store, this.id, missing)).filter((m) => !this.roots.canon.has(m.id));
        if (fixes.length === 0) return;
        this.log.info({ event: 'canon_repaired', threadId: this.id, messages: fixes.length }, 'wrote canon another instance did not');
        this.writeCanon(fixes);
      } catch (err) {
        this.log.warn({ event: 'canon_repair_failed', threadId: this.id, err: String(err) }, 'repairing canon failed');
      }
    });
  }

  /** Re-reads meta and canon from the store (changed by another instance outside its rooms). */
  private refreshFromStore(): void {
    this.chain = this.chain.then(async () => {
      if (this.sealed) return;
      try {
        const row = await this.store.getThread(this.id);
        if (row) this.syncMeta(row);
        await this.repairCanon();
      } catch (err) {
        this.log.warn({ event: 'refresh_failed', threadId: this.id, err: String(err) }, 'refreshing from the store failed');
      }
    });
  }

  /** Lets the next flush retry held updates (their missing structs may be here now). */
  private requestRetry(): void {
    this.retryRequested = true;
    this.queue.length === 0 && !this.scheduled ? this.scheduleFlush() : undefined;
  }

  /** The store refused a write of this generation (another instance rolled it first): seal. */
  private sealedOnWrite(err: GenerationSealedError): Promise<void> {
    this.log.info({ event: 'write_refused_sealed', threadId: this.id, generation: err.generation, liveGeneration: err.liveGeneration }, 'write refused: generation sealed');
    return this.sealFromElsewhere();
  }

  /** Another instance rolled this generation: seal here too (4410 to every peer, then unload). */
  private async sealFromElsewhere(row?: ThreadRow): Promise<void> {
    if (this.sealed) return;
    this.sealed = true;
    this.relayUpdates.seal();
    const next = row ?? (await this.store.getThread(this.id).catch(() => null));
    if (next && next.generation > this.thread.generation) this.thread = next;
    this.log.info({ event: 'generation_sealed_elsewhere', threadId: this.id, generation: this.thread.generation }, 'generation rolled by another instance');
    for (const c of [...this.conns]) c.close(CloseCode.GENERATION_SEALED, this.sealedReason());
    this.onSealed(this);
  }

  /** Replaces the stored log with one snapshot of the current document. */
  async compact(): Promise<void> {
    const before = this.logRows;
    try {
      await this.store.compact(this.id, Y.encodeStateAsUpdate(this.doc), this.thread.generation);
    } catch (err) {
      if (err instanceof GenerationSealedError) return void (await this.sealedOnWrite(err));
      throw err;
    }
    this.logRows = 1;
    this.log.debug({ event: 'log_compacted', threadId: this.id, rows: before }, 'update log compacted');
  }

  private onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOAD_ORIGIN || origin === INGEST_ORIGIN || this.sealed) return;
    if (origin === REMOTE_ORIGIN) {
      // Stored by another instance already: only this instance's peers need it.
      const frame = encodeUpdate(update);
      for (const c of this.conns) c.send(frame);
      return;
    }
    if (origin instanceof SyncConnection) {
      this.collecting?.produced.push({ conn: origin, update });
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
    if (!this.sealed) this.streamWatch?.sweep(Date.now(), true);
    this.streamWatch?.destroy();
    this.canonWatch.destroy();
    this.fan?.close();
    await this.idle();
    // A sealed generation's log was replaced by the next one's: never write it back.
    if (this.logRows > 1 && !this.sealed) await this.compact();
    this.presence.destroy();
    this.doc.destroy();
  }
}
