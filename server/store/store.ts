/**
 * The relay's storage interface. Implementations (SQLite, PostgreSQL) must pass the
 * same conformance suite (tests/integration/store-conformance.test.ts).
 *
 * Sequencing happens inside `commitMessages`: the update log rows, the message rows
 * and the thread's sequence counter change in one transaction, so nothing that has a
 * seq can exist without the update that carried it.
 */
import type { CanonicalMessage, Thread, ThreadSummary } from '../../shared/api-types.ts';
import type { MessageRecord } from '../../shared/schema.ts';
import type { IngestStore } from '../at/ingest/ingest-store.ts';

export type { ThreadSummary };
/** Threads are stored as the API shows them. */
export type ThreadRow = Thread;

export interface StoredMessage extends CanonicalMessage {
  threadId: string;
}

export interface NewThread {
  id: string;
  title: string;
  participants: string[];
  mirror: boolean;
  createdAt: number;
  /** The thread's at:// identity when known at creation (see `Thread.atUri`). */
  atUri?: string | null;
  /** The creator: the thread's owner (shared/roles.ts). */
  owner?: string | null;
}

/** A message found in a committed update, with the state the relay decided for it. */
export interface MessageCandidate {
  record: MessageRecord;
  /**
   * `rejected` for business-rule refusals (e.g. archived thread); `confirmed` for a message
   * ingested from AT (already a record: never mirrored again); else `sent`.
   */
  state: 'sent' | 'rejected' | 'confirmed';
  error?: string;
  atUri?: string;
  atCid?: string;
}

/** The latest `readAt` of one user for one message, kept relationally once its generation is sealed. */
export interface FoldedReceipt {
  messageId: string;
  userId: string;
  readAt: number;
}

/** What a commit's `relayRow` callback returns (see `Store.commitMessages`). */
export interface RelayRow {
  /** The relay's own update for the sequenced messages (canon), or null when it wrote nothing. */
  relay: Uint8Array | null;
  /** The commit's `updates` and `relay` merged into one update. */
  merged: Uint8Array;
}

/**
 * Called by a commit once its candidates have seqs, with the messages it stored: the relay
 * writes their canon and returns its update, so it is stored before anyone sees it.
 */
export type RelayRowFor = (stored: StoredMessage[]) => RelayRow | null;

/** Options of `Store.commitMessages`. */
export interface CommitOptions {
  /** The generation the writer's room belongs to: refused once the thread rolled past it. */
  generation?: number;
  /** The relay's update for the stored messages, stored with them (see `commitMessages`). */
  relayRow?: RelayRowFor;
}

/**
 * A write for generation `generation` of a thread reached the store after the thread rolled
 * to `liveGeneration` (another instance sealed it): nothing of the write was stored. The
 * writer's room is history and seals itself, as on a local roll.
 */
export class GenerationSealedError extends Error {
  constructor(
    readonly threadId: string,
    readonly generation: number,
    readonly liveGeneration: number,
  ) {
    super(`generation ${generation} of ${threadId} is sealed (live: ${liveGeneration})`);
    this.name = 'GenerationSealedError';
  }
}

/** What `Store.redactMessages` replaces the update log with. */
export interface RedactOptions {
  snapshot: Uint8Array;
  /** Rows the snapshot holds already (store/snapshot-coverage.ts): replaced without being merged. */
  holds?: (row: Uint8Array) => boolean;
  /** Refused (GenerationSealedError) when the thread rolled past it; rows untouched. */
  generation?: number;
}

export interface UpdateLog {
  updates: Uint8Array[];
}

/** A claimed outbox row with what the bridge needs to build the AT record. */
export interface OutboxItem {
  message: StoredMessage;
  /** Failed attempts so far (drives the backoff). */
  attempts: number;
  /** When the row was written (the message was sequenced), ms. */
  enqueuedAt: number;
}

/** Identifies one message of one thread. */
export interface MessageKey {
  threadId: string;
  messageId: string;
}

export interface ConfirmedWrite extends MessageKey {
  atUri: string;
  atCid: string;
}

export interface PermanentFailure extends MessageKey {
  /** Normalized code written into `canon[id].error`. */
  code: string;
  /** Short diagnostic (never message text or credentials), kept until `expiresAt`. */
  detail: string;
}

export interface BridgeDiagnostic {
  code: string;
  failureClass: string;
  detail: string;
  at: number;
  expiresAt: number;
}

export interface OutboxStats {
  /** Rows waiting (claimed or not). */
  depth: number;
  /** `enqueuedAt` of the oldest row, or null when empty. */
  oldestEnqueuedAt: number | null;
}

export interface Store {
  createThread(t: NewThread): Promise<ThreadRow>;
  getThread(id: string): Promise<ThreadRow | null>;
  /** The local thread whose at:// identity is `uri` (at most one: the URI is unique). */
  getThreadByAtUri(uri: string): Promise<ThreadRow | null>;
  /** Sets a thread's at:// identity once (null when unknown; unchanged when already set). */
  setThreadAtUri(id: string, uri: string): Promise<ThreadRow | null>;
  listThreadsForUser(userId: string): Promise<ThreadSummary[]>;
  /** Marks a thread archived; returns the updated row, or null when unknown. */
  archiveThread(id: string): Promise<ThreadRow | null>;
  /**
   * Adds (`present`) or removes a remote member: a DID whose ingested AT records the thread
   * accepts. Returns the updated row, or null when the thread is unknown.
   */
  setRemote(threadId: string, did: string, present: boolean): Promise<ThreadRow | null>;
  /**
   * Adds (`present`) or removes a local member (participant); removing also drops their
   * moderator role. Returns the updated row, or null when the thread is unknown.
   */
  setMember(threadId: string, userId: string, present: boolean): Promise<ThreadRow | null>;
  /** Makes exactly `moderators` (participants) the thread's moderators. Returns the row, or null when unknown. */
  setModerators(threadId: string, moderators: string[]): Promise<ThreadRow | null>;
  /** Reopens an archived thread (a no-op when it is not archived); returns the row, or null when unknown. */
  unarchiveThread(id: string): Promise<ThreadRow | null>;

  /** All stored updates of a thread, oldest first. */
  loadUpdates(threadId: string): Promise<UpdateLog>;
  /**
   * Appends one update (relay-authored changes: canon, meta). With `generation` (the generation
   * the writer's document is), it is refused with GenerationSealedError, atomically, once
   * the thread is at another generation.
   */
  appendUpdate(threadId: string, update: Uint8Array, generation?: number): Promise<void>;
  /**
   * Atomically: appends `updates`, assigns the next seqs and a non-decreasing `sentAt`
   * (never less than `now` or the thread's previous one) to each candidate whose id is
   * new in the thread, and persists those message rows. Returns the stored messages,
   * in seq order. Candidates whose id already exists are skipped. When the thread
   * mirrors to AT, an outbox row per new `sent` message is written in the same
   * transaction, so a message with a seq is never missing from the outbox.
   *
   * `opts.generation`: the whole commit is refused (GenerationSealedError, nothing stored) when
   * the thread is no longer at that generation: checked in the same transaction, so a roll on
   * another instance either finishes before (refused) or waits until after it (the seqs land
   * below `baseSeq`).
   *
   * `opts.relayRow` is called once the seqs are assigned, and its update is stored before this
   * resolves: SQLite stores `merged` as the commit's only log row, in the same transaction (one
   * row and one fsync per batch instead of a second commit for the canon); PostgreSQL, which
   * sequences in one statement, stores `updates` there and appends `relay` as one more row
   * right after (a crash in between leaves canon behind, which loading repairs from the
   * message rows).
   */
  commitMessages(threadId: string, updates: Uint8Array[], candidates: MessageCandidate[], now: number, opts?: CommitOptions): Promise<StoredMessage[]>;
  /**
   * Replaces the whole update log of a thread by one row, atomically: `snapshot` merged with
   * the stored rows, so an update another instance appended that the snapshot lacks is kept.
   * With PostgreSQL, a compaction of the thread already running on another instance makes
   * this one a no-op (they never run at once). With `generation`, refused (GenerationSealedError,
   * the log untouched) when the thread rolled past it: a sealed document's snapshot must never
   * be merged into the next generation's log. `holds` (store/snapshot-coverage.ts): rows it
   * is true for are in `snapshot` already and are replaced without being merged into it.
   * The rows merged lose what they hold of deleted messages (store/redaction-merge.ts);
   * `deletions` false says the snapshot's document has no deletion markers (a cheaper merge
   * unless a row carries one).
   */
  compact(threadId: string, snapshot: Uint8Array, generation?: number, holds?: (row: Uint8Array) => boolean, deletions?: boolean): Promise<void>;
  /**
   * Removes the text of deleted messages for good (docs/design/message-lifecycle.md), in one
   * transaction: their rows keep seq, author and place with an empty text and `redacted` set;
   * their outbox rows and revisions go; an ingested record's stored value loses its text; and
   * the update log is replaced by `snapshot` (taken after the relay removed them from the
   * document) as `compact` does, waiting for a running compaction instead of skipping; a
   * stored row the snapshot does not hold (another instance wrote it) is merged without
   * what it holds of deleted messages (store/redaction-merge.ts). Then
   * the backend reclaims what still holds the old bytes (SQLite: secure_delete and a WAL
   * checkpoint that truncates; PostgreSQL: VACUUM of the touched tables).
   */
  redactMessages(threadId: string, messageIds: string[], opts: RedactOptions): Promise<void>;
  /**
   * Deleted messages whose AT record may still exist (`redacted` with an at:// URI): the
   * bridge deletes each record, then `clearAtUri`. At most `limit`, any order.
   */
  listAtDeletions(limit: number): Promise<Array<MessageKey & { atUri: string }>>;
  /** Forgets the AT record of deleted messages once it was deleted from the PDS. */
  clearAtUri(keys: MessageKey[]): Promise<void>;
  /**
   * Sets edited messages' current text (design/message-lifecycle.md): the row's text and
   * `editedAt` become the newest revision's (unless a newer one is stored already), and a row
   * whose AT record exists is marked for rewriting (`listAtEdits`). Deleted rows are left alone.
   */
  reviseMessages(threadId: string, revisions: Array<{ messageId: string; text: string; editedAt: number }>): Promise<void>;
  /** Edited messages whose AT record holds an older text, with what the record needs. At most `limit`. */
  listAtEdits(limit: number): Promise<StoredMessage[]>;
  /** Marks the AT record of `key` rewritten with the text edited at `editedAt`. */
  markAtEdited(key: MessageKey, editedAt: number, atCid: string): Promise<void>;
  /** Number of rows in the update log of a thread. */
  countUpdates(threadId: string): Promise<number>;

  /** Canonical messages with `seq > afterSeq`, in seq order, at most `limit`. */
  listMessages(threadId: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /** The newest `limit` canonical messages with `seq < beforeSeq`, in seq order (back-pagination). */
  listMessagesBefore(threadId: string, beforeSeq: number, limit: number): Promise<StoredMessage[]>;

  // --- generations (docs/data-model.md, "Windowed threads") ---

  /**
   * Seals the live generation, atomically: `generation` + 1, `baseSeq` = `lastSeq`, the update
   * log replaced by `snapshot` (the first state of the new live document), and `receipts`
   * folded into the relational receipts (the latest `readAt` wins). Returns the updated row,
   * or null when the thread is unknown or no longer at `fromGeneration`.
   */
  rollGeneration(threadId: string, fromGeneration: number, snapshot: Uint8Array, receipts: FoldedReceipt[], sealedState?: Uint8Array): Promise<ThreadRow | null>;
  /**
   * The state vector of generation `generation`'s document when it was sealed (stored by
   * `rollGeneration`), or null when unknown: an SDK moving its offline work out of that
   * generation carries only what the relay never saw (design/message-lifecycle.md).
   */
  sealedState(threadId: string, generation: number): Promise<Uint8Array | null>;
  /** Folded receipts of the given messages (any order). */
  listReceipts(threadId: string, messageIds: string[]): Promise<FoldedReceipt[]>;

  /** One stored message by id. */
  getMessage(threadId: string, messageId: string): Promise<StoredMessage | null>;
  /** The canonical messages of a thread with these ids (unknown ids are left out), in seq order. */
  getMessages(threadId: string, messageIds: string[]): Promise<StoredMessage[]>;
  /**
   * Number of canonical messages with `afterSeq < seq < beforeSeq` not written by `notAuthor`
   * (a reader's unread messages older than what their client holds).
   */
  countOthersMessages(threadId: string, afterSeq: number, beforeSeq: number, notAuthor: string): Promise<number>;

  // --- AT write bridge outbox ---

  /**
   * Claims up to `limit` due, unclaimed outbox rows (oldest first) for `leaseMs`; a
   * claim that is neither completed nor deferred in time becomes claimable again.
   */
  claimOutbox(limit: number, now: number, leaseMs: number): Promise<OutboxItem[]>;
  /** Marks messages `confirmed` with their AT uri/cid and drops their outbox rows. Returns the updated messages. */
  completeOutbox(writes: ConfirmedWrite[]): Promise<StoredMessage[]>;
  /** Releases claimed rows for a later attempt at `nextAttemptAt`; `countAttempt` bumps the attempt counter. */
  deferOutbox(keys: MessageKey[], nextAttemptAt: number, countAttempt: boolean): Promise<void>;
  /**
   * Marks messages `failed` with a normalized code, drops their outbox rows and keeps a
   * diagnostic until `now + ttlMs`. Returns the updated messages.
   */
  failOutbox(failures: PermanentFailure[], failureClass: string, now: number, ttlMs: number): Promise<StoredMessage[]>;
  /**
   * Puts a `failed` message of a mirrored thread back into the outbox as `sent`.
   * Returns the updated message, or null when it is not in state `failed`.
   */
  requeueMessage(threadId: string, messageId: string, now: number): Promise<StoredMessage | null>;
  /** Depth and age of the outbox. */
  outboxStats(): Promise<OutboxStats>;
  /** Unexpired failure diagnostics of one message, newest first. */
  listDiagnostics(threadId: string, messageId: string, now: number): Promise<BridgeDiagnostic[]>;
  /** Deletes expired diagnostics; returns how many. */
  pruneDiagnostics(now: number): Promise<number>;

  // --- erasure on request (docs/design/membership.md) ---

  /**
   * The messages `authorId` wrote that are not deleted yet, in every thread and generation
   * (sealed rows included). Erasure deletes each through its thread's room, as a delete
   * (`redactMessages`), so the text leaves every copy by the one redaction path.
   */
  listAuthored(authorId: string): Promise<ErasedMessage[]>;
  /** Drops `userId`'s folded receipts in every thread (erasure; live receipts leave with the document's). */
  dropReceipts(userId: string): Promise<void>;
  /**
   * Threads `userId` was removed from and not added back to since (recorded from the version
   * that added this; earlier removals are not known). Erasure visits them too: the user's
   * receipts stay in a live document after their removal.
   */
  listFormerThreads(userId: string): Promise<string[]>;
  /**
   * Makes what was deleted or overwritten unreadable in the database files (SQLite: checkpoint
   * the WAL, VACUUM, truncate the WAL). False when the database could not do it now (busy).
   */
  scrub?(): Promise<boolean>;

  /** AT ingest tables (sources, sync state, commit log, records), in the same database. */
  readonly ingest: IngestStore;

  /** False once closed; a store without it counts as open (`/v1/ready`). */
  isOpen?(): boolean;
  /**
   * Whether the database answers a trivial query within `timeoutMs` (`/v1/health`, and the
   * relay's write gate). Absent for an embedded database that cannot be unreachable.
   */
  ping?(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** One message an erasure deletes (`Store.listAuthored`). */
export interface ErasedMessage {
  threadId: string;
  messageId: string;
  /** Its AT record, when it was mirrored. */
  atUri: string | null;
}

/** The AT write bridge's outbox and diagnostics: the part of a Store each backend keeps in a class of its own. */
export const OUTBOX_METHODS = [
  'claimOutbox',
  'completeOutbox',
  'deferOutbox',
  'failOutbox',
  'requeueMessage',
  'outboxStats',
  'listDiagnostics',
  'pruneDiagnostics',
] as const satisfies ReadonlyArray<keyof Store>;

export type OutboxStore = Pick<Store, (typeof OUTBOX_METHODS)[number]>;

/**
 * Makes the methods of `outbox` the store's own, bound to it. The store's class declares
 * `interface XStore extends OutboxStore {}` beside itself, so TypeScript knows they are there.
 */
export function delegateOutbox(store: OutboxStore, outbox: OutboxStore): void {
  const target = store as unknown as Record<string, unknown>;
  for (const m of OUTBOX_METHODS) target[m] = outbox[m].bind(outbox);
}
