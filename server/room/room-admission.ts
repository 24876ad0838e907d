/**
 * Admission of client updates into a room's document: each one is checked against the
 * document policy (update-policy.ts) and applied only when allowed; one whose dependencies
 * are missing is held (held-updates.ts) and retried when they may have arrived. What a flush
 * admits is collected for its commit (new messages, tombstones, receipt maxima).
 */
import * as Y from 'yjs';
import { CloseCode, ErrorCode } from '../../shared/errors.ts';
import { DEFAULT_STREAM_LIMITS } from '../../shared/stream.ts';
import { HeldUpdates } from './held-updates.ts';
import type { SyncConnection } from './sync-connection.ts';
import { type Collecting, readAtOf } from './room-types.ts';
import type { Pending } from './room-intake.ts';
import { DEFAULT_MAX_RECEIPTS_PER_USER } from './room-receipts.ts';
import { checkUpdate } from './policy/update-policy.ts';
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
    const collecting: Collecting = { produced: [], candidates: [], tombstones: [], receipts: new Map(), catchUp: false, owners: new Map(), newReceipts: new Map(), redact: new Set(), edited: new Set() };
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
    const fan = room.fan;
    const verdict = checkUpdate(
      {
        doc: room.doc,
        roots: room.roots,
        userId: conn.userId,
        maxTextLength: room.opts.maxTextLength,
        streamLimits: room.opts.streamLimits ?? DEFAULT_STREAM_LIMITS,
        isKnownMessageId: (id) => room.uncanonIds.has(id) || room.roots.canon.has(id),
        authorOfKnownMessage: (id) => authorOf(room, id) ?? room.sealedAuthors.get(id),
        deletionWalkBudget: p.backlog ? undefined : LIVE_DELETION_WALK,
        ...(fan ? { isRelayClient: (c: number) => fan.relayClients.has(c), otherRelays: true } : {}),
      },
      p.update,
    );
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
    if (verdict.messages.length && !p.backlog && !conn.takeMessages(verdict.messages.length)) {
      conn.close(CloseCode.RATE_LIMITED, 'too many messages');
      return 'dropped';
    }
    const c = this.collecting!;
    let fresh = 0;
    for (const [key, readAt] of verdict.receipts) if (readAt !== null && !room.roots.receipts.has(key)) fresh++;
    const perUser = room.opts.maxReceiptsPerUser ?? DEFAULT_MAX_RECEIPTS_PER_USER;
    if (fresh > perUser) {
      conn.close(CloseCode.POLICY_VIOLATION, 'too many receipts in one update');
      return 'dropped';
    }
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
      Y.applyUpdate(room.doc, p.update, conn);
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
}

/** The author of a message in the live document (a scan: only duplicates, edits and deletions ask). */
export function authorOf(room: Pick<AdmissionState, 'roots'>, id: string): string | undefined {
  for (const r of room.roots.messages) {
    if (r && typeof r === 'object' && (r as { id?: unknown }).id === id) return (r as { authorId?: string }).authorId;
  }
  return undefined;
}
