/**
 * Admission of client updates into a room's document: each one is checked against the
 * document policy (update-policy.ts) and applied only when allowed; one whose dependencies
 * are missing is held (held-updates.ts) and retried when they may have arrived. What a flush
 * admits is collected for its commit (new messages, tombstones, receipt maxima).
 */
import * as Y from 'yjs';
import { CloseCode, ErrorCode, rateLimitReason } from '../../shared/errors.ts';
import { DEFAULT_STREAM_LIMITS } from '../../shared/stream.ts';
import { HeldUpdates } from './held-updates.ts';
import type { SyncConnection } from './sync-connection.ts';
import { type Collecting, type ReceiptLookup, readAtOf } from './room-types.ts';
import { parseReceiptKey } from '../../shared/schema.ts';
import { type Pending, decodedOf } from './room-intake.ts';
import { DEFAULT_MAX_RECEIPTS_PER_USER } from './room-receipts.ts';
import { type PolicyContext, type Verdict, checkUpdate } from './policy/update-policy.ts';
import { backlogCuts, prefixUpdate } from './backlog-cut.ts';
import type { ThreadMeters } from './thread-meters.ts';
import type { SealedAuthors } from './sealed-authors.ts';
import type * as YT from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { RoomFanout } from '../fanout/room-fanout.ts';
import type { Logger } from '../ops/logger.ts';
import type { ThreadRow } from '../store/store.ts';
import type { ThreadRoomOptions } from './room-types.ts';

/** What admission reads of its room (state only: it never acts on the room). */
export interface AdmissionState {
  readonly doc: YT.Doc;
  readonly roots: ThreadRoots;
  readonly log: Logger;
  readonly opts: ThreadRoomOptions;
  /** This room's side of the fan-out; null when the relay runs alone. */
  readonly fan: RoomFanout | null;
  /** Ids accepted into the document whose canon is not written yet (admission adds to it). */
  readonly uncanonIds: Set<string>;
  /** Budgets kept across connections (offline backlogs). */
  readonly meters: ThreadMeters;
  /** Authors of sealed messages named by the batch's edits and deletions (sealed-authors.ts). */
  readonly sealedAuthors: SealedAuthors;
  thread(): ThreadRow;
}

/** Relay structs a live (non-backlog) update's delete set may cover. */
const LIVE_DELETION_WALK = 10_000;

export class RoomAdmission {
  /** What the flush in progress collects; null between flushes. */
  collecting: Collecting | null = null;
  /** Updates waiting for structs the relay does not have yet, per connection. */
  private readonly held = new HeldUpdates<Pending>();
  private retrying = false;
  /** Ids the store holds that the document does not (sealed generations), learnt from receipt lookups. */
  private readonly storedIds = new Set<string>();

  constructor(private readonly room: AdmissionState) {}

  /** Updates held for missing dependencies. */
  get heldCount(): number {
    return this.held.size;
  }

  /** Forgets what a connection that left had waiting. */
  drop(conn: SyncConnection): void {
    this.held.drop(conn);
  }

  /**
   * Admits a batch (and, when something was applied or `retry` is set, the held updates
   * whose dependencies may now be there); returns what was collected for the commit.
   */
  collect(batch: Pending[], retry: boolean): Collecting {
    const collecting: Collecting = { produced: [], candidates: [], tombstones: [], receipts: new Map(), catchUp: false, owners: new Map(), newReceipts: new Map(), lookups: [], redact: new Set(), edited: new Set(), revert: new Map() };
    this.collecting = collecting;
    try {
      for (const p of batch) {
        if (this.admit(p) === 'pending') this.hold(p);
      }
      if (collecting.produced.length || retry) this.retryHeld();
    } finally {
      this.collecting = null;
    }
    return collecting;
  }

  /**
   * Checks one update against the policy and applies it when allowed. A refused update
   * closes its connection; one with missing dependencies is reported `pending` and is
   * not applied, so nothing unchecked can ever wait inside the relay's document.
   */
  private admit(p: Pending): 'applied' | 'pending' | 'dropped' {
    const { conn } = p;
    const room = this.room;
    if (conn.closedByRelay) return 'dropped';
    const owed = p.precut?.deferred ?? 0;
    if (p.precut?.messages && room.meters.backlogAvailable(room.thread().id, conn.userId) < 1) {
      // Its user's budget was spent since the cut (another socket's backlog): refused undecoded.
      this.deferBacklog(conn, p.precut.messages + owed);
      return 'dropped';
    }
    const fan = room.fan;
    const ctx: PolicyContext = {
        doc: room.doc,
        roots: room.roots,
        userId: conn.userId,
        maxTextLength: room.opts.maxTextLength,
        streamLimits: room.opts.streamLimits ?? DEFAULT_STREAM_LIMITS,
        isKnownMessageId: (id) => room.uncanonIds.has(id) || room.roots.canon.has(id),
        authorOfKnownMessage: (id) => authorOf(room, id) ?? room.sealedAuthors.get(id),
        deletionWalkBudget: p.backlog ? undefined : LIVE_DELETION_WALK,
        ...(fan ? { isRelayClient: (c: number) => fan.relayClients.has(c), otherRelays: true } : {}),
    };
    let update = p.update;
    let verdict = checkUpdate(ctx, update, decodedOf(p));
    if (verdict.ok && !this.receiptsAllowed(p, verdict)) return 'dropped';
    /** Backlog messages left for the peer's next step 2 (over its user's budget). */
    let deferred = 0;
    if (verdict.ok && p.backlog && verdict.messages.length) {
      const part = this.budgetBacklog(ctx, p, verdict);
      if (!part) return 'dropped';
      ({ update, verdict, deferred } = part);
    }
    if (!verdict.ok) {
      // Missing structs may be another instance's, lost on the way: the store has them.
      if (verdict.pending) {
        room.log.debug({ event: 'update_pending', threadId: room.thread().id, reason: verdict.reason }, 'update held');
        if (fan?.distributed && !this.retrying) this.collecting!.catchUp = true;
        return 'pending';
      }
      room.log.warn(
        { event: 'update_refused', code: verdict.code, reason: verdict.reason, threadId: room.thread().id, userId: conn.userId },
        'update refused by policy',
      );
      conn.close(verdict.code, verdict.reason);
      return 'dropped';
    }
    if (verdict.messages.length && !p.backlog && !room.meters.takeMessages(room.thread().id, conn.userId, verdict.messages.length)) {
      conn.close(CloseCode.RATE_LIMITED, 'too many messages');
      return 'dropped';
    }
    const c = this.collecting!;
    const fresh = freshReceipts(room, verdict).length;
    if (fresh) c.newReceipts.set(conn.userId, (c.newReceipts.get(conn.userId) ?? 0) + fresh);
    // Receipts: remember the highest readAt seen (before the update may overwrite it).
    for (const [key, readAt] of verdict.receipts) {
      const before = readAtOf(room.roots.receipts.get(key));
      c.receipts.set(key, Math.max(c.receipts.get(key) ?? -Infinity, before, readAt ?? -Infinity));
    }
    // A client id belongs to the user who first wrote with it (policy/client-owner.ts).
    for (const client of verdict.clients) if (!room.roots.owners.has(String(client)) && !c.owners.has(client)) c.owners.set(client, conn.userId);
    for (const id of verdict.redact) c.redact.add(id);
    for (const id of verdict.edited) c.edited.add(id);
    for (const id of verdict.revert) c.revert.set(id, conn.userId);
    // Own messages appended again by id: the relay deletes the second copy after the commit.
    for (const m of verdict.duplicates) c.tombstones.push(m);
    const archived = room.thread().archived;
    for (const m of verdict.messages) {
      room.uncanonIds.add(m.record.id);
      const at = { client: m.client, clock: m.clock };
      c.candidates.push(archived ? { record: m.record, state: 'rejected', error: ErrorCode.THREAD_ARCHIVED, ...at } : { record: m.record, state: 'sent', ...at });
      if (archived) c.tombstones.push(m);
    }
    try {
      Y.applyUpdate(room.doc, update, conn);
    } catch {
      conn.close(CloseCode.MALFORMED, 'undecodable update');
      return 'dropped';
    }
    const store = room.doc.store;
    if (store.pendingStructs || store.pendingDs) {
      // The policy judged every dependency present; never keep unchecked content around.
      room.log.error({ event: 'policy_pending_mismatch', threadId: room.thread().id, userId: conn.userId }, 'update left pending structs');
      store.pendingStructs = null;
      store.pendingDs = null;
    }
    deferred += owed;
    if (deferred) this.deferBacklog(conn, deferred);
    return 'applied';
  }

  /**
   * Charges a backlog's new messages to its user's budget in this thread (thread-meters.ts).
   * Over the budget, the prefix holding as many messages as the budget has is taken instead
   * (backlog-cut.ts); null when nothing can be taken now (the connection is closed, retryable).
   */
  private budgetBacklog(ctx: PolicyContext, p: Pending, verdict: Verdict & { ok: true }): { update: Uint8Array; verdict: Verdict; deferred: number } | null {
    const room = this.room;
    const [threadId, userId] = [room.thread().id, p.conn.userId];
    const n = verdict.messages.length;
    if (room.meters.takeBacklog(threadId, userId, n)) return { update: p.update, verdict, deferred: 0 };
    const keep = room.meters.backlogAvailable(threadId, userId);
    if (keep > 0) {
      const update = prefixUpdate(p.update, backlogCuts(p.update, verdict.messages, keep));
      const part = checkUpdate(ctx, update);
      // The policy judges the prefix as it judged the whole; a prefix it cannot take whole waits.
      if (part.ok && part.messages.length <= keep && room.meters.takeBacklog(threadId, userId, part.messages.length)) {
        room.log.info({ event: 'backlog_deferred', threadId: room.thread().id, userId: p.conn.userId, taken: part.messages.length, deferred: n - part.messages.length }, 'offline backlog over budget: taken in part');
        return { update, verdict: part, deferred: n - part.messages.length };
      }
    }
    this.deferBacklog(p.conn, n + (p.precut?.deferred ?? 0));
    return null;
  }

  /** Closes a connection whose backlog still holds `remaining` messages, naming when to come back. */
  deferBacklog(conn: SyncConnection, remaining: number): void {
    const room = this.room;
    const wait = room.meters.backlogRetryMs(room.thread().id, conn.userId, remaining);
    conn.close(CloseCode.RATE_LIMITED, rateLimitReason('offline backlog over budget', wait));
  }

  /**
   * Receipts name messages the thread has (issue 28): live, admitted in this flush or this
   * update, or stored (sealed in an earlier generation). An update with more new receipts
   * than a user may keep, or naming a message the store does not have either, is refused
   * (4402); one naming ids the document does not know waits for a store lookup (the room
   * admits it again through `resolveLookups`). False when the update is not to be applied now.
   */
  private receiptsAllowed(p: Pending, verdict: Verdict & { ok: true }): boolean {
    const room = this.room;
    const fresh = freshReceipts(room, verdict);
    if (fresh.length === 0) return true;
    if (fresh.length > (room.opts.maxReceiptsPerUser ?? DEFAULT_MAX_RECEIPTS_PER_USER)) {
      p.conn.close(CloseCode.POLICY_VIOLATION, 'too many receipts in one update');
      return false;
    }
    const here = new Set([...verdict.messages, ...verdict.duplicates].map((m) => m.record.id));
    const known = (id: string) => here.has(id) || room.roots.canon.has(id) || room.uncanonIds.has(id) || this.storedIds.has(id);
    let unknown = [...new Set(fresh.filter((id) => !known(id)))];
    if (unknown.length) {
      // Messages in the document without canon yet (another instance's, just applied).
      const live = new Set(room.roots.messages.toArray().map((m) => m?.id));
      unknown = unknown.filter((id) => !live.has(id));
    }
    if (unknown.length === 0) return true;
    if (p.lookedUp) {
      p.conn.close(CloseCode.POLICY_VIOLATION, 'receipt for a message the thread does not have');
      return false;
    }
    this.collecting!.lookups.push({ pending: p, ids: unknown });
    return false;
  }

  /**
   * The store answered which of the looked-up ids it holds: returns the updates to admit
   * again (all their ids are stored); the others' connections are refused (4402).
   */
  resolveLookups(lookups: ReceiptLookup[], stored: string[]): Pending[] {
    if (this.storedIds.size > 50_000) this.storedIds.clear();
    for (const id of stored) this.storedIds.add(id);
    const again: Pending[] = [];
    for (const { pending, ids } of lookups) {
      if (pending.conn.isClosed) continue;
      if (ids.every((id) => this.storedIds.has(id))) again.push({ ...pending, lookedUp: true });
      else pending.conn.close(CloseCode.POLICY_VIOLATION, 'receipt for a message the thread does not have');
    }
    return again;
  }

  /** Keeps an update until its dependencies arrive (see held-updates.ts). */
  private hold(p: Pending): void {
    if (p.conn.isClosed) return;
    // A held update waits with its bytes only: the decoded structs weigh several times more.
    p.decoded = undefined;
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
}

/** Message ids of the receipts `verdict` adds to the document (keys it does not hold yet). */
function freshReceipts(room: AdmissionState, verdict: Verdict & { ok: true }): string[] {
  const ids: string[] = [];
  for (const [key, readAt] of verdict.receipts) {
    if (readAt === null || room.roots.receipts.has(key)) continue;
    const k = parseReceiptKey(key);
    if (k) ids.push(k.messageId);
  }
  return ids;
}

/** The author of a message in the live document (a scan: only duplicates, edits and deletions ask). */
export function authorOf(room: Pick<AdmissionState, 'roots'>, id: string): string | undefined {
  for (const r of room.roots.messages) {
    if (r && typeof r === 'object' && (r as { id?: unknown }).id === id) return (r as { authorId?: string }).authorId;
  }
  return undefined;
}
