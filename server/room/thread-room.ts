/**
 * A loaded thread: the relay's Y.Doc, its awareness, and its connections.
 *
 * Every change of the document takes one path, run one at a time on the room's chain:
 *
 *   intake → admission → commit → publish
 *
 * - intake (room-intake.ts): client updates queue, bounded; a full queue stops reading the
 *   sender's socket. A flush takes one batch of at most `maxBatchBytes`.
 * - admission (room-admission.ts): each update is checked against the policy
 *   (policy/update-policy.ts) and staged into the room's document; the relay's own changes
 *   (meta, canon, stream sweeps), AT ingest and salvage are staged the same way.
 * - commit: one store transaction holds the staged updates, the message rows with their seqs,
 *   the outbox rows and the relay's canon for them (one log row for SQLite).
 * - publish: only then is the batch forwarded to peers (one frame each), to other instances
 *   (fan-out), and reported (onSequenced, the bridge).
 *
 * Invariants (docs/data-model.md, "Commit first"):
 * - Nothing leaves the room that the store does not hold: frames, fan-out, sync step 1
 *   answers (queued on the chain, so they see no staged change), compaction and roll
 *   snapshots all run after the commit they could include.
 * - A failed commit breaks the room: its document may hold staged changes the store does not
 *   have, so it is never read again — every peer is closed with STORAGE_FAILURE (retryable),
 *   the room is dropped without compacting, and the next load reads only what is stored.
 *   Clients resend what they hold; seqs are assigned once, by the store.
 * - Updates another instance stored (fan-out) are applied as they come: they are stored.
 */
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { type MessageRecord, type ThreadRoots, threadRoots } from '../../shared/schema.ts';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from '../../shared/stream.ts';
import type { ThreadFanoutMessage } from '../fanout/fanout.ts';
import { RoomFanout } from '../fanout/room-fanout.ts';
import type { Logger } from '../ops/logger.ts';
import { GenerationSealedError, type MessageCandidate, type RelayRow, type Store, type StoredMessage, type ThreadRow } from '../store/store.ts';
import { batchRow, type Produced, sendBatch } from './batch-frames.ts';
import { canonFixes, sequencedBefore } from './canon-repair.ts';
import { inDocumentOrder } from './document-order.ts';
import { shouldRoll } from './generation-roll.ts';
import { appendSystemEvent, markErased, purgeRedacted, writeAfterCommit, writeCanon, writeMeta } from './relay-writes.ts';
import type { SystemEvent } from '../../shared/membership.ts';
import { coveredSnapshot } from '../store/snapshot-coverage.ts';
import { revisionsOf, unpurged } from '../../shared/message-lifecycle.ts';
import { RoomAdmission, authorOf } from './room-admission.ts';
import { planIngestedChanges } from './ingested-changes.ts';
import { SealedAuthors, lifecycleIds } from './sealed-authors.ts';
import { RoomChain } from './room-chain.ts';
import { INGEST_ORIGIN, LOAD_ORIGIN, RELAY_ORIGIN, REMOTE_ORIGIN } from './origins.ts';
import { decodedOf, intakeLimits, type Pending, RoomIntake } from './room-intake.ts';
import { RoomLog } from './room-log.ts';
import { RoomPresence } from './room-presence.ts';
import { type RemoteMessage, applyStored, remoteAction } from './room-remote.ts';
import { CanonWatch, missingCanon, storedMessages } from './canon-watch.ts';
import { rollGeneration, sealedElsewhere, sealReason } from './room-seal.ts';
import { BackendUnavailableError, type Collecting, type IngestedChange, type IngestedMessage, type ReceiptLookup, RoomBrokenError, RoomSealedError, type ThreadRoomOptions } from './room-types.ts';
import { StreamWatch } from './stream-watch.ts';
import { DEFAULT_MAX_RECEIPTS_PER_USER, ReceiptBudget } from './room-receipts.ts';
import { SyncConnection } from './sync-connection.ts';
import { ThreadMeters } from './thread-meters.ts';
import { encodeUpdate } from './sync-protocol.ts';

export type { IngestedChange, IngestedMessage, ThreadRoomOptions } from './room-types.ts';

/** How long a room waits, after another instance's update, before finishing a redaction that instance left undone. */
const SWEEP_GRACE_MS = 1000;
export { RoomBrokenError, RoomSealedError } from './room-types.ts';

/** A message the relay appends itself, with the AT record it came from when ingested. */
type RelayAppended = Pick<IngestedMessage, 'message'> & Partial<Pick<IngestedMessage, 'atUri' | 'atCid'>>;

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

  private readonly intake: RoomIntake;
  private scheduled = false;
  private readonly chain: RoomChain;
  private readonly updateLog: RoomLog;
  /** Set by a failed commit: the document may hold what the store does not; never read again. */
  private broken = false;
  /** The relay's own changes waiting for their commit (meta, canon, stream sweeps). */
  private relayChanges: Array<() => void> = [];
  /** Updates the transaction in progress produced, by origin kind (see `onDocUpdate`). */
  private captured: Uint8Array[] | null = null;
  /** Ids accepted into the document whose canon is not written yet. */
  private readonly uncanonIds = new Set<string>();
  private readonly streamLimits: StreamLimits;
  /** Interrupts streams whose author went quiet (started once the log is loaded). */
  private streamWatch: StreamWatch | null = null;
  /** Bounds each user's receipts in the document (counted once the log is loaded). */
  private receiptBudget: ReceiptBudget | null = null;
  /** Set once this generation ended (rolled here or elsewhere, room-seal.ts): it is history. */
  private sealed = false;
  /** Users removed from the thread while this room was loaded (closed and refused with 4403). */
  private readonly removedUsers = new Set<string>();
  /** Every user this room saw listed as a participant (to tell who was removed). */
  private readonly everMembers = new Set<string>();
  /** The `meta.participants` value last checked after a remote update. */
  private listedSeen: unknown = null;
  /** This room's side of the fan-out to other instances; null when the relay runs alone. */
  private readonly fan: RoomFanout | null;
  /** The next flush retries held updates even without new ones (after a catch-up). */
  private retryRequested = false;
  private readonly admission: RoomAdmission;
  /** A sweep of deleted messages' leftovers is due (`sweepUnpurged`). */
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A catch-up from the store is queued (at most one waits behind the running one). */
  private catchUpQueued = false;
  /** Budgets kept across connections and rooms (thread-meters.ts): backlogs, awareness, rolls. */
  private readonly meters: ThreadMeters;
  /** A roll that was due sooner than SKEIN_ROLL_MIN_INTERVAL_MS after the last one waits here. */
  private rollTimer: NodeJS.Timeout | null = null;
  /** Writes canon another instance committed but did not write (it died in between). */
  private readonly canonWatch = new CanonWatch(() => this.repairRemoteCanon());
  /** Authors of sealed messages that edits and deletions name (the policy cannot await the store). */
  private readonly sealedAuthors = new SealedAuthors();

  private constructor(
    public thread: ThreadRow,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: ThreadRoomOptions,
  ) {
    this.doc.on('update', this.onDocUpdate);
    this.intake = new RoomIntake(opts.intake ?? intakeLimits(1_048_576));
    this.updateLog = new RoomLog(this.doc, store, log, { afterRows: opts.compactAfterUpdates, growthPercent: opts.compactGrowthPercent });
    this.chain = new RoomChain((err) => this.log.error({ event: 'room_task_failed', threadId: this.id, err: String(err) }, 'room task failed'));
    // A relay alone (in-process fan-out reaching nobody) keeps the single-instance path as it is.
    this.fan = opts.fanout && opts.fanout.status() !== 'off' ? new RoomFanout(opts.fanout, thread.id) : null;
    const meters = (this.meters = opts.meters ?? new ThreadMeters());
    this.presence = new RoomPresence(this.doc, this.conns, (c, bytes) => meters.takeAwareness(this.id, c.userId, bytes), this.fan ? (u) => this.fan!.publishAwareness(u) : undefined);
    this.streamLimits = opts.streamLimits ?? DEFAULT_STREAM_LIMITS;
    this.admission = new RoomAdmission({
      doc: this.doc,
      roots: this.roots,
      log,
      opts,
      fan: this.fan,
      uncanonIds: this.uncanonIds,
      meters,
      sealedAuthors: this.sealedAuthors,
      thread: () => this.thread,
    });
  }

  get id(): string {
    return this.thread.id;
  }

  /** The generation this room holds (its document is `thread.liveDoc`). */
  get generation(): number {
    return this.thread.generation;
  }

  /** True once nothing more is applied or stored here: sealed, or broken by a storage failure. */
  private get closed(): boolean {
    return this.sealed || this.broken;
  }

  /** Loads a thread's log into a fresh document and repairs canon/meta from the store. */
  static async load(thread: ThreadRow, store: Store, log: Logger, opts: ThreadRoomOptions): Promise<ThreadRoom> {
    // The caller's row may predate a roll: the log holds the newest generation.
    const room = new ThreadRoom((await store.getThread(thread.id)) ?? thread, store, log, opts);
    const { updates } = await store.loadUpdates(thread.id);
    room.updateLog.loaded(updates);
    room.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(room.doc, u, LOAD_ORIGIN);
    }, LOAD_ORIGIN);
    room.syncMeta(room.thread);
    await room.repairCanon();
    // Stored before any peer joins: a load that cannot store its repairs fails as a whole.
    await room.chain.run(() => room.commitRelayChanges());
    if (room.broken) throw new Error(`loading ${thread.id} failed: storing the relay's repairs failed`);
    // A redaction whose purge never ran (a crash between the marker's commit and it) is finished now.
    room.sweepUnpurged();
    room.receiptBudget = new ReceiptBudget(room.roots, opts.maxReceiptsPerUser ?? DEFAULT_MAX_RECEIPTS_PER_USER);
    room.streamWatch = new StreamWatch(room.roots.streams, room.streamLimits.streamIdleMs, (change) => room.relayWrite(change), room.streamLimits.maxOpenStreams);
    return room;
  }

  /**
   * Writes thread metadata into `meta` where it differs from the store (committed, then sent).
   * Users who left `participants` (removed, issue 30) are closed with 4403 first, on every
   * instance (each room gets the row through a fan-out refresh), so they receive nothing
   * more, not even this meta change; they stay refused here until added again. `event`: a
   * membership change to append to `events` in the same relay change.
   */
  syncMeta(thread: ThreadRow, event?: SystemEvent): void {
    if (this.closed) return;
    this.membersNow(this.thread.participants);
    this.membersNow(thread.participants);
    if (thread.generation !== this.thread.generation) return;
    this.thread = thread;
    this.relayWrite(() => {
      writeMeta(this.doc, this.roots, this.thread);
      if (event) appendSystemEvent(this.doc, event);
    });
  }

  /**
   * The thread's participants as of now (from a row or from `meta` another instance wrote):
   * users seen as members before and missing now are removed: their connections are closed
   * with 4403 and refused until they are members again.
   */
  private membersNow(participants: readonly string[]): void {
    const now = new Set(participants);
    for (const u of this.everMembers) if (!now.has(u)) this.removedUsers.add(u);
    for (const u of participants) {
      this.everMembers.add(u);
      this.removedUsers.delete(u);
    }
    if (this.removedUsers.size === 0) return;
    for (const c of [...this.conns]) if (this.removedUsers.has(c.userId)) c.close(CloseCode.NOT_A_MEMBER, 'removed');
  }

  /**
   * Erasure on request (docs/design/membership.md): deletes `ids` — messages `authorId` wrote
   * in this thread, live or sealed — exactly as a delete does: a deletion marker for each
   * (relay-writes.ts `markErased`, which also drops the author's receipts and streams), then
   * the redaction every delete takes (`redact`: document, rows, log, AT). Resolves with how
   * many of them the live document held. Throws RoomSealedError / RoomBrokenError (retry on
   * the thread's next room) or when the store could not remove the rows (retry the erasure).
   */
  eraseMessages(authorId: string, ids: string[]): Promise<number> {
    return this.chain.run(async () => {
      if (this.sealed) throw new RoomSealedError(this.id);
      if (this.broken) throw new RoomBrokenError(this.id);
      let live = 0;
      this.relayWrite(() => {
        live = markErased(this.doc, this.roots, authorId, ids, Date.now());
      });
      const done = await this.redact(ids);
      if (done === 'stored') return live;
      if (this.sealed) throw new RoomSealedError(this.id);
      if (this.broken) throw new RoomBrokenError(this.id);
      throw new Error(`erasing ${ids.length} messages of ${this.id} failed in storage`);
    });
  }

  /** Resolves once the relay changes queued so far are stored and sent. */
  settled(): Promise<void> {
    return this.chain.idle();
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
    if (this.closed) return;
    this.writeCanon(messages.filter((m) => m.seq > this.thread.baseSeq || this.roots.canon.has(m.id)));
  }

  /** Canon entries for stored messages: a relay change, committed before anyone sees it. */
  private writeCanon(messages: StoredMessage[]): void {
    if (messages.length) this.relayWrite(() => writeCanon(this.doc, this.roots, messages));
  }

  /** Adds a connection for `generation` (the document name it asked for); an older one gets 4410. */
  join(conn: SyncConnection, generation = this.thread.generation): void {
    if (conn.isClosed) {
      // It went away while the room loaded: kept, it would hold the room loaded for good.
      if (this.conns.size === 0) this.onEmpty(this);
      return;
    }
    if (this.broken) return conn.close(CloseCode.STORAGE_FAILURE, 'storage failure');
    // Admitted on a row read before the removal reached this room.
    if (this.removedUsers.has(conn.userId)) return conn.close(CloseCode.NOT_A_MEMBER, 'removed');
    if (this.sealed || generation !== this.thread.generation) {
      conn.close(CloseCode.GENERATION_SEALED, sealReason(this.thread));
      return;
    }
    this.conns.add(conn);
    conn.attach(this);
  }

  leave(conn: SyncConnection): void {
    this.admission.drop(conn);
    this.intake.drop(conn);
    if (!this.conns.delete(conn)) return;
    this.presence.leave(conn);
    if (this.conns.size === 0) this.onEmpty(this);
  }

  // ------------------------------------------------------------------ intake

  receiveUpdate(conn: SyncConnection, update: Uint8Array, backlog = false): void {
    if (this.closed) return;
    this.intake.push({ conn, update, backlog });
    this.scheduleFlush();
  }

  /**
   * A connection's offline backlog (its first sync step 2), metered per user and thread
   * (thread-meters.ts). With a budget shared by several instances (Redis), what is left of it
   * is reserved first and what the backlog did not use given back once it was admitted.
   */
  async receiveBacklog(conn: SyncConnection, update: Uint8Array, partBytes: number): Promise<void> {
    let queued = false;
    try {
      // Most reconnects bring nothing (an empty update is 2 bytes): no round trip for those.
      if (this.meters.shared && update.byteLength > 2) {
        await this.meters.reserveBacklog(this.id, conn.userId);
        if (this.closed || conn.isClosed) return;
      }
      queued = await this.queueBacklog(conn, update, partBytes);
    } finally {
      if (!queued) this.meters.releaseBacklog(this.id, conn.userId);
    }
  }

  /**
   * Queues a backlog for admission; one over `partBytes` (issue 28) is cut first: decoding it
   * here would stall the event loop for as long as it is large, on every reconnect of a client
   * that re-sends it. It is cut off the loop (backlog-offload.ts) to the part its user's budget
   * takes now, at most `partBytes`; that part is then admitted as any backlog, and the
   * connection closed 4529 with `retry_after_ms` when something was left for its next step 2.
   * With less than a quarter of the budget left it is refused undecoded. False when nothing
   * was queued.
   */
  private async queueBacklog(conn: SyncConnection, update: Uint8Array, partBytes: number): Promise<boolean> {
    const offload = this.opts.backlogOffload;
    if (this.closed) return false;
    if (update.byteLength <= partBytes || !offload) {
      this.receiveUpdate(conn, update, true);
      return true;
    }
    const keep = Math.floor(this.meters.backlogAvailable(this.id, conn.userId));
    // The 4529 hint asks for a quarter of the budget back before the next try: a client that
    // comes sooner (stock y-websocket does) is refused undecoded, costing the worker nothing.
    if (keep < Math.ceil(this.meters.limits.backlogBudget / 4)) {
      this.admission.deferBacklog(conn, this.meters.limits.backlogBudget);
      return false;
    }
    const part = await offload.precut({ backlog: update, stateVector: Y.encodeStateVector(this.doc), keep, maxBytes: partBytes });
    if (this.closed || conn.isClosed) return false;
    if (part.refusal) {
      if (part.refusal === 'malformed') conn.close(CloseCode.MALFORMED, 'undecodable update');
      else conn.close(CloseCode.TOO_LARGE, `offline backlog holds more than ${partBytes} bytes before its first message`);
      return false;
    }
    if (part.deferred) this.log.info({ event: 'backlog_precut', threadId: this.id, userId: conn.userId, messages: part.messages, deferred: part.deferred, bytes: part.update.byteLength }, 'large offline backlog: a part of it taken');
    this.intake.push({ conn, update: part.update, backlog: true, precut: { messages: part.messages - part.deferred, deferred: part.deferred } });
    this.scheduleFlush();
    return true;
  }

  /** With a shared backlog budget: gives back what the batch's backlogs did not use (not those awaiting a receipt lookup). */
  private releaseBacklogs(batch: Pending[], awaiting: ReceiptLookup[] = []): void {
    if (!this.meters.shared) return;
    for (const p of batch) if (p.backlog && !awaiting.some((l) => l.pending === p)) this.meters.releaseBacklog(this.id, p.conn.userId);
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
   * Runs `task` once the room's work queued so far is committed: the document then holds
   * only what is stored (sync step 1 answers).
   */
  afterStored(task: () => void): void {
    this.chain.add(() => {
      if (!this.closed) task();
    });
  }

  receiveAwareness(conn: SyncConnection, update: Uint8Array): void {
    this.presence.receive(conn, update);
  }

  sendAwarenessStates(conn: SyncConnection): void {
    this.presence.sendStates(conn);
  }

  /** Resolves once every queued update and relay change has been committed and forwarded. */
  async idle(): Promise<void> {
    const busy = () => this.scheduled || (this.intake.size > 0 && !this.closed) || (this.relayChanges.length > 0 && !this.closed);
    do {
      while (this.scheduled) await new Promise((r) => setImmediate(r));
      await this.chain.idle();
    } while (busy());
  }

  // --------------------------------------------------------------- admission

  private async flush(): Promise<void> {
    if (this.closed) return;
    const batch = this.intake.take();
    // What the intake still holds goes in the next batch.
    if (this.intake.size > 0) this.scheduleFlush();
    const retry = this.retryRequested;
    this.retryRequested = false;
    if (batch.length === 0 && !retry) return;
    const refused = batch.length ? this.opts.refuseWrites?.() : null;
    if (refused) {
      // Nothing of the batch is staged: each sender keeps its update and resends it on reconnect.
      for (const p of batch) p.conn.close(CloseCode.BACKEND_UNAVAILABLE, refused);
      this.log.warn({ event: 'writes_refused', threadId: this.id, updates: batch.length }, refused);
      this.releaseBacklogs(batch);
      return;
    }
    const named = lifecycleIds(batch.map(decodedOf));
    if (named.size) {
      try {
        await this.sealedAuthors.load(this.store, this.id, named, (id) => authorOf(this, id) !== undefined);
      } catch (err) {
        // A store error is no policy verdict: the policy would refuse an edit or deletion of a
        // sealed message as naming an unknown one (4402, final), so its sender is closed as on
        // any store error instead (retryable) and resends it on reconnect.
        this.log.warn({ event: 'sealed_authors_failed', threadId: this.id, err: String(err) }, 'looking up sealed authors failed');
        const unknown = (id: string) => authorOf(this, id) === undefined && this.sealedAuthors.get(id) === undefined;
        for (const p of batch) {
          if (!p.conn.closedByRelay && [...lifecycleIds([decodedOf(p)])].some(unknown)) p.conn.close(CloseCode.BACKEND_UNAVAILABLE, 'storage unavailable');
        }
      }
      if (this.closed) return this.releaseBacklogs(batch);
    }
    const collecting = this.admission.collect(batch, retry);
    this.releaseBacklogs(batch, collecting.lookups);
    if (collecting.catchUp) this.catchUp();
    if (collecting.lookups.length) this.lookUpReceipts(collecting);
    const { produced } = collecting;
    if (produced.length === 0) return;
    const candidates = inDocumentOrder(this.doc, collecting.candidates).map(({ client: _c, clock: _k, ...c }) => c);
    const stored = await this.commit(produced.map((p) => p.update), candidates, collecting, produced);
    if (!stored) return;
    this.boundReceipts(collecting.newReceipts);
    // Candidates sequenced in a sealed generation keep their seq (rare): canon as its own change.
    const resequenced = await sequencedBefore(this.store, this.id, candidates, stored);
    if (resequenced.length) this.writeCanon(resequenced);
    if (collecting.edited.size) await this.revise([...collecting.edited]);
    if (collecting.redact.size) await this.redact([...collecting.redact]);
    if (collecting.revert.size) this.revertMarkers(collecting.revert);
    await this.afterCommit();
  }

  // ------------------------------------------------------------------ commit

  /**
   * Commits staged updates with their candidates, then publishes them. The store calls back
   * once seqs are assigned: the relay's canon (and tombstones, receipt maxima) is staged then
   * and stored in the same commit. Returns the stored messages, or null when the commit
   * failed (the room is broken or sealed then, and nothing was published).
   */
  private async commit(updates: Uint8Array[], candidates: MessageCandidate[], collecting: Collecting | null, produced: Produced[]): Promise<StoredMessage[] | null> {
    let row: RelayRow | null = null;
    const relayRow = (s: StoredMessage[]): RelayRow => {
      const relay = this.stage(() => writeAfterCommit(this.doc, this.roots, s, collecting ?? EMPTY_COLLECTING));
      return (row = batchRow(updates, relay));
    };
    let stored: StoredMessage[];
    try {
      stored = await this.store.commitMessages(this.id, updates, candidates, Date.now(), { generation: this.thread.generation, relayRow });
    } catch (err) {
      // Another instance rolled the thread first: nothing of this batch was stored (no seq, not
      // forwarded); the peers get 4410 and re-send their pending records to the live document.
      if (err instanceof GenerationSealedError) await this.sealFromElsewhere(undefined, err);
      else this.storageFailed('commit_failed', err, 'storage commit failed');
      return null;
    }
    // A store that does not call `relayRow` stored the updates as they are; canon follows as a relay change.
    const committed = row as RelayRow | null;
    const sent: RelayRow = committed ?? batchRow(updates, null);
    if (committed) this.updateLog.added(committed.merged.length);
    else for (const u of updates) this.updateLog.added(u.length);
    this.uncanonIds.clear();
    this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, sent.merged);
    sendBatch(this.conns, produced, sent);
    if (!committed) this.relayWrite(() => writeAfterCommit(this.doc, this.roots, stored, collecting ?? EMPTY_COLLECTING));
    if (this.thread.mirror && stored.some((m) => m.state === 'sent')) this.opts.onMirroredCommit?.(this.id);
    if (stored.length) this.opts.onSequenced?.(stored);
    return stored;
  }

  /**
   * Queues a relay change (meta, canon, a stream sweep): staged and committed on the chain,
   * batched with the others queued meanwhile into one log row, then sent to every peer.
   */
  private relayWrite(change: () => void): void {
    if (this.closed) return;
    this.relayChanges.push(change);
    if (this.relayChanges.length === 1) this.chain.add(() => this.commitRelayChanges());
  }

  /** Stages and stores the queued relay changes as one update; runs on the chain. */
  private async commitRelayChanges(): Promise<void> {
    const changes = this.relayChanges;
    this.relayChanges = [];
    if (changes.length === 0 || this.closed) return;
    const update = this.stage(() => {
      for (const change of changes) change();
    });
    if (!update) return;
    try {
      await this.store.appendUpdate(this.id, update, this.thread.generation);
    } catch (err) {
      if (err instanceof GenerationSealedError) return void (await this.sealFromElsewhere(undefined, err));
      return this.storageFailed('append_failed', err, 'storing relay update failed');
    }
    this.updateLog.added(update.length);
    this.fan?.publishUpdate(this.thread.generation, this.doc.clientID, update);
    const frame = encodeUpdate(update);
    for (const c of this.conns) c.send(frame);
  }

  /**
   * Gives edited messages' rows their current text (history pages, the AT record); a failure
   * is logged and the next edit of the message writes it again.
   */
  private async revise(ids: string[]): Promise<void> {
    const revisions = [];
    for (const id of ids) {
      const last = revisionsOf(this.roots.edits.entries(), id).at(-1);
      if (last) revisions.push({ messageId: id, text: last.text, editedAt: last.editedAt });
    }
    if (revisions.length === 0) return;
    try {
      await this.store.reviseMessages(this.id, revisions);
    } catch (err) {
      this.log.warn({ event: 'revise_failed', threadId: this.id, messages: revisions.length, err: String(err) }, 'storing edited texts failed');
      return;
    }
    if (this.thread.mirror) this.opts.onMirroredCommit?.(this.id);
  }

  /**
   * Removes the text of deleted messages for good (docs/design/message-lifecycle.md): the
   * relay deletes their records, revisions and reactions from the document (Yjs replaces the
   * deleted content by its length: gc is on), stores and sends that change, then the store
   * empties their rows and replaces the update log by a snapshot taken after the removal, so
   * no stored row keeps the text. Runs on the chain, after the commit of the markers.
   */
  private async redact(ids: string[]): Promise<'stored' | 'failed'> {
    if (this.closed) return 'failed';
    this.relayWrite(() => purgeRedacted(this.doc, this.roots, ids));
    await this.commitRelayChanges();
    if (this.closed) return 'failed';
    const snapshot = coveredSnapshot(this.doc);
    try {
      await this.store.redactMessages(this.id, ids, { snapshot: snapshot.update, holds: snapshot.holds, generation: this.thread.generation });
      this.updateLog.compacted(snapshot.update.length);
    } catch (err) {
      if (err instanceof GenerationSealedError) await this.sealFromElsewhere(undefined, err);
      // The document no longer has the text; the rows are retried by the next redaction or load.
      else this.log.warn({ event: 'redact_failed', threadId: this.id, messages: ids.length, err: String(err) }, 'removing deleted messages from storage failed');
      return 'failed';
    }
    this.log.info({ event: 'messages_redacted', threadId: this.id, messages: ids.length }, 'deleted messages removed');
    // Their AT records go too (the bridge deletes what the rows still point at).
    if (this.thread.mirror) this.opts.onMirroredCommit?.(this.id);
    return 'stored';
  }

  /**
   * Removes deletion markers their writers may no longer write (policy/lifecycle.ts): the
   * message stays, and every replica, the writer's too, drops the marker with this change.
   */
  private revertMarkers(markers: Map<string, string>): void {
    this.log.info({ event: 'redactions_reverted', threadId: this.id, messages: markers.size }, 'deletion markers without the role removed again');
    this.relayWrite(() => {
      for (const [id, by] of markers) {
        const v = this.roots.redactions.get(id) as { by?: unknown } | undefined;
        if (v?.by === by) this.roots.redactions.delete(id);
      }
    });
  }

  /** Counts committed receipts; a user past the bound loses those of the oldest messages (room-receipts.ts). */
  private boundReceipts(fresh: Map<string, number>): void {
    const budget = this.receiptBudget;
    if (!budget) return;
    for (const [user, n] of fresh) {
      budget.add(user, n);
      if (budget.over(user)) this.relayWrite(() => budget.prune(user));
    }
  }

  /** Runs `change` as one relay transaction and returns the update it produced (null: none). */
  private stage(change: () => void): Uint8Array | null {
    const captured: Uint8Array[] = [];
    const outer = this.captured;
    this.captured = captured;
    try {
      this.doc.transact(change, RELAY_ORIGIN);
    } finally {
      this.captured = outer;
    }
    return captured.length === 0 ? null : captured.length === 1 ? captured[0]! : Y.mergeUpdates(captured);
  }

  /** After a commit: roll the generation when it is full, else compact a long log. */
  private async afterCommit(): Promise<void> {
    if (this.closed) return;
    const perGeneration = this.opts.generationMessages ?? 0;
    if (perGeneration > 0 && this.roots.messages.length >= perGeneration) {
      // Queued relay changes first: the canon of re-appended sealed messages decides whether
      // they count, and the roll's snapshot must hold every change queued so far.
      await this.commitRelayChanges();
      if (this.closed || !shouldRoll(this.roots, perGeneration, this.thread.baseSeq)) return;
      // Rolls are rate-limited per thread: each closes every member's socket (4410).
      const wait = this.meters.rollWaitMs(this.id);
      if (wait > 0) return this.rollLater(wait);
      const next = await rollGeneration(this.store, this.log, this.thread, this.roots);
      if (next) {
        this.meters.rolled(this.id);
        // Other instances' rooms of this generation seal too (and also learn it from the store).
        this.fan?.publishSealed(this.thread.generation);
        this.endGeneration(next);
      }
    } else if (this.updateLog.due) await this.compactNow();
  }

  /** Checks again, once the thread may roll, whether it is due (messages keep being sequenced meanwhile). */
  private rollLater(waitMs: number): void {
    if (this.rollTimer) return;
    this.log.info({ event: 'roll_delayed', threadId: this.id, waitMs }, 'generation roll waits for the roll interval');
    this.rollTimer = setTimeout(() => {
      this.rollTimer = null;
      this.chain.add(() => this.afterCommit());
    }, waitMs);
    this.rollTimer.unref();
  }

  /** Compacts the stored log (on the chain). A failed compaction leaves the stored rows as they were. */
  private async compactNow(): Promise<void> {
    try {
      await this.updateLog.compact(this.thread);
    } catch (err) {
      if (err instanceof GenerationSealedError) return void (await this.sealFromElsewhere(undefined, err));
      this.log.warn({ event: 'compact_failed', threadId: this.id, err: String(err) }, 'compacting the update log failed');
    }
  }

  /** Another instance rolled this generation (the fan-out, a catch-up or the store said so): seal here too. */
  private async sealFromElsewhere(row?: ThreadRow, refused?: GenerationSealedError): Promise<void> {
    if (this.closed) return;
    this.sealed = true;
    this.endGeneration(await sealedElsewhere(this.store, this.log, this.thread, row, refused));
  }

  /** The generation is history: every connection gets 4410 naming the live document, and the room is dropped. */
  private endGeneration(next: ThreadRow): void {
    this.sealed = true;
    this.relayChanges = [];
    this.intake.clear();
    if (next.generation > this.thread.generation) this.thread = next;
    for (const c of [...this.conns]) c.close(CloseCode.GENERATION_SEALED, sealReason(this.thread));
    this.onSealed(this);
  }

  // ----------------------------------------------------------- relay appends

  /** Appends messages ingested from AT (state `confirmed`: they are records already, never mirrored again). */
  appendIngested(items: IngestedMessage[]): Promise<StoredMessage[]> {
    return this.appendByRelay(items, 'confirmed');
  }

  /**
   * Applies edits and deletions of ingested messages by their authors (ingested-changes.ts):
   * the entries are one relay change, stored and sent like canon; then the edited rows take
   * their current text and deleted messages are redacted as a member's deletion is (document,
   * rows, log). Throws like `appendIngested`. Resolves with how many changes were applied.
   */
  applyIngestedChanges(changes: IngestedChange[]): Promise<number> {
    return this.chain.run(async () => {
      if (this.sealed) throw new RoomSealedError(this.id);
      if (this.broken) throw new RoomBrokenError(this.id);
      const refused = this.opts.refuseWrites?.();
      if (refused) throw new BackendUnavailableError(refused);
      const rows = await this.store.getMessages(this.id, [...new Set(changes.map((c) => c.messageId))]);
      const plan = planIngestedChanges(this.roots, new Map(rows.map((m) => [m.id, m])), changes);
      for (const s of plan.skipped) this.log.info({ event: 'ingest_change_skipped', threadId: this.id, messageId: s.messageId, reason: s.reason }, 'ingested edit or deletion skipped');
      const ended = () => (this.sealed ? new RoomSealedError(this.id) : new RoomBrokenError(this.id));
      this.relayWrite(() => plan.write(this.roots));
      await this.commitRelayChanges();
      if (this.closed) throw ended();
      if (plan.edited.length) await this.revise(plan.edited);
      if (plan.redact.length) await this.redact(plan.redact);
      // Rolled elsewhere meanwhile: the next room plans again (what is done is skipped then).
      if (this.closed) throw ended();
      return changes.length - plan.skipped.length;
    });
  }

  /** Appends a peer's messages salvaged from a sealed generation (sealed-salvage.ts; mirrored like any message). */
  appendSalvaged(records: MessageRecord[]): Promise<StoredMessage[]> {
    return this.appendByRelay(
      records.map((message) => ({ message })),
      'sent',
    );
  }

  /**
   * Messages the relay appends itself, in order, skipping ids the thread already has: staged
   * and committed on the chain like a client batch. Throws RoomSealedError / RoomBrokenError
   * (try the thread's next room) or BackendUnavailableError (nothing staged; try later).
   */
  private appendByRelay(items: RelayAppended[], state: 'confirmed' | 'sent'): Promise<StoredMessage[]> {
    return this.chain.run(async () => {
      if (this.sealed) throw new RoomSealedError(this.id);
      if (this.broken) throw new RoomBrokenError(this.id);
      // As for clients' updates: refused before anything is staged.
      const refused = this.opts.refuseWrites?.();
      if (refused) throw new BackendUnavailableError(refused);
      const ids = new Set<string>();
      const fresh = items.filter((i) => {
        const id = i.message.id;
        if (ids.has(id) || this.roots.canon.has(id) || this.uncanonIds.has(id)) return false;
        ids.add(id);
        return true;
      });
      if (fresh.length === 0) return [];
      const update = this.stageAppend(() => this.roots.messages.insert(this.roots.messages.length, fresh.map((i) => i.message)));
      const candidates = fresh.map((i): MessageCandidate => (state === 'confirmed' ? { record: i.message, state, atUri: i.atUri, atCid: i.atCid } : { record: i.message, state }));
      const stored = await this.commit([update], candidates, null, []);
      if (!stored) throw this.sealed ? new RoomSealedError(this.id) : new RoomBrokenError(this.id);
      await this.afterCommit();
      return stored;
    });
  }

  /** The update one INGEST_ORIGIN transaction produces. */
  private stageAppend(change: () => void): Uint8Array {
    let update: Uint8Array | null = null;
    const capture = (u: Uint8Array, origin: unknown) => {
      if (origin === INGEST_ORIGIN) update = u;
    };
    this.doc.on('update', capture);
    try {
      this.doc.transact(change, INGEST_ORIGIN);
    } finally {
      this.doc.off('update', capture);
    }
    return update!;
  }

  // ------------------------------------------------------------ other rooms

  /** A message from another instance's room of this thread (room-remote.ts decides what it asks). */
  receiveRemote(msg: ThreadFanoutMessage): void {
    if (this.closed || !this.fan) return;
    if (msg.kind === 'awareness') return this.presence.applyRemote(msg.update);
    const action = remoteAction(msg as RemoteMessage, this.thread.generation, this.fan);
    switch (action.kind) {
      case 'refresh':
        return this.refreshFromStore();
      case 'catch-up':
        return this.catchUp();
      case 'seal':
        return void this.sealFromElsewhere();
      case 'apply':
        // Stored by another instance: applied at once (onDocUpdate forwards it to this room's peers).
        this.canonWatch.poke();
        if (!applyStored(this.doc, [action.update]) || action.gap) this.catchUp();
        else if (this.admission.heldCount > 0) this.requestRetry();
        this.sweepUnpurged(SWEEP_GRACE_MS);
    }
  }

  /**
   * Re-reads the thread's stored log and applies what this document lacks (the diff goes to
   * the peers). Runs on the chain; calls while one waits are merged into it.
   */
  catchUp(): void {
    if (this.catchUpQueued || this.closed) return;
    this.catchUpQueued = true;
    this.chain.add(async () => {
      this.catchUpQueued = false;
      if (this.closed) return;
      try {
        // Log first, then the row: a roll replaces both in one transaction, so a log read
        // before the roll is seen with the old generation, and one after with the new.
        const { updates } = await this.store.loadUpdates(this.id);
        const row = await this.store.getThread(this.id);
        if (row && row.generation !== this.thread.generation) return void (await this.sealFromElsewhere(row));
        if (!applyStored(this.doc, updates)) this.log.warn({ event: 'catch_up_incomplete', threadId: this.id }, 'the stored log did not integrate');
        this.canonWatch.poke();
        this.sweepUnpurged(SWEEP_GRACE_MS);
        this.log.debug({ event: 'caught_up', threadId: this.id, rows: updates.length }, 'caught up from the store');
      } catch (err) {
        this.log.warn({ event: 'catch_up_failed', threadId: this.id, err: String(err) }, 'catching up from the store failed');
      }
      if (this.admission.heldCount > 0) this.requestRetry();
    });
  }

  /**
   * Deleted messages whose content is back in the document — another instance stored an edit,
   * a reaction or the record itself before our purge reached it, or a row written before a
   * purge was merged in — are removed again by the same redaction (on the chain). After
   * another instance's update the check waits `SWEEP_GRACE_MS`: that instance publishes its
   * marker before its purge, and the purge is its to do.
   */
  private sweepUnpurged(graceMs = 0): void {
    if (this.closed || this.sweepTimer || this.roots.redactions.size === 0) return;
    this.sweepTimer = setTimeout(() => {
      this.chain.add(async () => {
        this.sweepTimer = null;
        const left = this.closed ? [] : unpurged(this.roots);
        if (left.length === 0) return;
        this.log.info({ event: 'redaction_swept', threadId: this.id, messages: left.length }, 'content of deleted messages came back: removed again');
        await this.redact(left);
      });
    }, graceMs);
    this.sweepTimer.unref();
  }

  /** Writes canon, from the store, for messages applied from other instances that still lack it. */
  private repairRemoteCanon(): void {
    if (this.closed || missingCanon(this.roots, this.uncanonIds).length === 0) return;
    this.chain.add(async () => {
      const missing = missingCanon(this.roots, this.uncanonIds);
      if (this.closed || missing.length === 0) return;
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
    this.chain.add(async () => {
      if (this.closed) return;
      try {
        const row = await this.store.getThread(this.id);
        if (row) this.syncMeta(row);
        await this.repairCanon();
      } catch (err) {
        this.log.warn({ event: 'refresh_failed', threadId: this.id, err: String(err) }, 'refreshing from the store failed');
      }
    });
  }

  /**
   * Storage failed: the document may hold staged changes the store does not have. Every peer
   * is closed (retryable) and the room is dropped without compacting; the next load reads
   * only what is stored.
   */
  private storageFailed(event: string, err: unknown, message: string): void {
    if (this.broken) return;
    this.broken = true;
    this.relayChanges = [];
    this.intake.clear();
    this.log.error({ event, threadId: this.id, err: String(err) }, message);
    // Part of a failed commit may be stored and was never published: the others re-read the store.
    this.fan?.publishGap();
    for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
    this.onBroken(this);
  }

  /**
   * Looks up, in the store, the messages named by receipts that the document does not know
   * (after this flush, on the chain); the updates that named only stored ones are admitted
   * again, the others refused (room-admission.ts decides).
   */
  private lookUpReceipts({ lookups }: Collecting): void {
    this.chain.add(async () => {
      if (this.closed) return;
      const ids = [...new Set(lookups.flatMap((l) => l.ids))];
      let found: string[];
      try {
        found = (await this.store.getMessages(this.id, ids)).map((m) => m.id);
      } catch (err) {
        this.log.warn({ event: 'receipt_lookup_failed', threadId: this.id, err: String(err) }, 'looking up receipted messages failed');
        for (const l of lookups) l.pending.conn.close(CloseCode.BACKEND_UNAVAILABLE, 'storage unavailable');
        return;
      }
      const again = this.admission.resolveLookups(lookups, found);
      if (again.length === 0 || this.closed) return;
      this.intake.requeue(again);
      this.scheduleFlush();
    });
  }

  /** Lets the next flush retry held updates (their missing structs may be here now). */
  private requestRetry(): void {
    this.retryRequested = true;
    this.scheduleFlush();
  }

  /** Replaces the stored log with one snapshot of the current document (on the chain: committed state only). */
  compact(): Promise<void> {
    return this.chain.run(async () => {
      if (!this.closed) await this.compactNow();
    });
  }

  private onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOAD_ORIGIN || origin === INGEST_ORIGIN || this.closed) return;
    if (origin === REMOTE_ORIGIN) {
      // Stored by another instance already: only this instance's peers need it. A member
      // another instance removed (its meta is in this update) is closed before it is sent.
      // (Yjs hands back the same array until meta.participants is written again.)
      const listed = this.roots.meta.get('participants');
      if (Array.isArray(listed) && listed !== this.listedSeen) {
        this.listedSeen = listed;
        this.membersNow(listed as string[]);
      }
      const frame = encodeUpdate(update);
      for (const c of this.conns) c.send(frame);
      return;
    }
    if (origin instanceof SyncConnection) {
      this.admission.collecting?.produced.push({ conn: origin, update });
      return;
    }
    if (this.captured) return void this.captured.push(update);
    // A change outside the pipeline would reach nobody and could never be stored: a bug.
    this.log.error({ event: 'unstaged_change', threadId: this.id }, 'document changed outside the commit path');
    this.storageFailed('unstaged_change', new Error('document changed outside the commit path'), 'room dropped');
  };

  /** Waits for pending work, compacts, and frees the document. */
  async unload(): Promise<void> {
    if (this.rollTimer) clearTimeout(this.rollTimer);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    // Nobody is connected: a stream left open now would never finish.
    if (!this.closed) this.streamWatch?.sweep(Date.now(), true);
    this.streamWatch?.destroy();
    this.canonWatch.destroy();
    this.fan?.close();
    await this.idle();
    // A broken room's document may hold what the store does not; a sealed generation's log
    // was replaced by the next one's: neither is ever written back.
    if (this.updateLog.rows > 1 && !this.closed) {
      await this.chain.run(() => this.compactNow());
    }
    this.presence.destroy();
    this.doc.destroy();
  }
}

const EMPTY_COLLECTING: Collecting = { produced: [], candidates: [], tombstones: [], receipts: new Map(), catchUp: false, owners: new Map(), newReceipts: new Map(), lookups: [], redact: new Set(), edited: new Set(), revert: new Map() };
