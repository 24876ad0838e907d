/**
 * The types and small pure helpers a ThreadRoom (thread-room.ts) shares with its modules:
 * its options and errors, what a flush collects, and the canon entry of a stored message.
 */
import type { Fanout } from '../fanout/fanout.ts';
import type { CanonInfo, MessageRecord } from '../../shared/schema.ts';
import type { StreamLimits } from '../../shared/stream.ts';
import type { MessageCandidate, StoredMessage } from '../store/store.ts';
import type { SyncConnection } from './sync-connection.ts';
import type { IntakeLimits, Pending } from './room-intake.ts';
import type { Positioned } from './document-order.ts';
import type { AcceptedMessage } from './policy/update-policy.ts';
import type { ThreadMeters } from './thread-meters.ts';
import type { BacklogOffload } from './backlog-offload.ts';

/** Thrown by a room whose generation was sealed meanwhile: acquire the thread's room again. */
export class RoomSealedError extends Error {
  constructor(threadId: string) {
    super(`generation of ${threadId} was sealed`);
  }
}

/**
 * Thrown by a room whose commit failed meanwhile (it is dropped, its document never read
 * again): acquire the thread's room again, which loads what the store holds.
 */
export class RoomBrokenError extends Error {
  constructor(threadId: string) {
    super(`room of ${threadId} was dropped after a storage failure`);
  }
}

/**
 * Thrown by a room asked to append messages itself (AT ingest, salvage) while the relay's
 * backends are not writable: nothing was applied, so the caller keeps them and tries again.
 */
export class BackendUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A message ingested from AT, with the record it came from. */
export interface IngestedMessage {
  message: MessageRecord;
  atUri: string;
  atCid: string;
}

/**
 * An edit or deletion of an ingested message by its author (their AT record was updated or
 * deleted: design/message-lifecycle.md, "AT mapping"), as the relay applies it.
 */
export type IngestedChange =
  | { kind: 'edit'; messageId: string; authorId: string; editId: string; text: string; editedAt: number }
  | { kind: 'delete'; messageId: string; authorId: string; at: number };

export interface ThreadRoomOptions {
  /** Update-log rows after which the room compacts its log (room-log.ts). */
  compactAfterUpdates: number;
  /** And only once the rows since the last snapshot hold this percentage of its bytes; 0 or absent: rows alone. */
  compactGrowthPercent?: number;
  maxTextLength: number;
  /** Sequenced messages after which the live document rolls into a new generation; 0: never. */
  generationMessages?: number;

  /** Limits of streamed replies; default DEFAULT_STREAM_LIMITS. */
  streamLimits?: StreamLimits;
  /** Called after a commit stored new `sent` messages in a mirrored thread (outbox rows exist). */
  onMirroredCommit?: (threadId: string) => void;
  /** Called after a commit stored new messages (with their seq and state). */
  onSequenced?: (messages: StoredMessage[]) => void;
  /** Fan-out to other relay instances holding the thread (issue #13); none: this instance alone. */
  fanout?: Fanout;
  /** Why writes must be refused now (PostgreSQL or Redis down, backend-health.ts), or null. */
  refuseWrites?: () => string | null;
  /** Bounds of the room's intake (room-intake.ts); default from a 1 MiB frame limit. */
  intake?: IntakeLimits;
  /** Receipts one user keeps in the live document (room-receipts.ts); default 2000. */
  maxReceiptsPerUser?: number;
  /** Per-user and per-thread budgets kept across connections and rooms (thread-meters.ts); default: a room's own. */
  meters?: ThreadMeters;
  /** Cuts large offline backlogs off the event loop (backlog-offload.ts); none: they are decoded here, whole. */
  backlogOffload?: BacklogOffload;
}

/** What one flush collects while applying updates. */
export interface Collecting {
  produced: Array<{ conn: SyncConnection; update: Uint8Array }>;
  /** New messages with their struct ids; sequenced in document order (document-order.ts). */
  candidates: Array<MessageCandidate & Positioned>;
  /** Messages appended to an archived thread, and own messages appended again by id: tombstoned by the relay after commit. */
  tombstones: AcceptedMessage[];
  /** Receipt key → highest readAt the relay has seen for it in this flush. */
  receipts: Map<string, number>;
  /** Some update waits for structs another instance may have stored: catch up from the store. */
  catchUp: boolean;
  /** Client ids first written with in this flush → their user (recorded in `owners` with the commit). */
  owners: Map<number, string>;
  /** User → receipt keys new to the document in this flush (room-receipts.ts counts them). */
  newReceipts: Map<string, number>;
  /**
   * Updates not admitted yet because they hold receipts of messages this document does not
   * know (sealed in an earlier generation, or never sent): the room looks the ids up in the
   * store and admits them again, or refuses them (room-admission.ts).
   */
  lookups: ReceiptLookup[];
  /** Deleted messages whose text the relay removes after the commit (design/message-lifecycle.md). */
  redact: Set<string>;
  /** Messages with a new revision: their rows take the current text after the commit. */
  edited: Set<string>;
  /** Deletion markers the relay removes again after the commit (marker id → who wrote it). */
  revert: Map<string, string>;
}

/** An update waiting for its receipts' message ids to be looked up in the store. */
export interface ReceiptLookup {
  pending: Pending;
  ids: string[];
}

export const readAtOf = (v: unknown): number =>
  typeof v === 'object' && v !== null && typeof (v as { readAt?: unknown }).readAt === 'number'
    ? (v as { readAt: number }).readAt
    : -Infinity;

/** Canon entry the relay publishes for a stored message. */
export function canonOf(m: StoredMessage): CanonInfo {
  const c: CanonInfo = { seq: m.seq, sentAt: m.sentAt, state: m.state };
  if (m.atUri) c.atUri = m.atUri;
  if (m.atCid) c.atCid = m.atCid;
  if (m.error) c.error = m.error;
  return c;
}

export const sameCanon = (a: CanonInfo | undefined, b: CanonInfo): boolean =>
  !!a && a.seq === b.seq && a.sentAt === b.sentAt && a.state === b.state &&
  a.atUri === b.atUri && a.atCid === b.atCid && a.error === b.error;
