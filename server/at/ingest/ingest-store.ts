/**
 * Storage of AT ingest (DESIGN.md "AT Protocol" → Ingest): federation sources, sync state
 * per (source, did), the append-only commit log and the records accepted from it.
 * A sibling of `Store`: every implementation passes tests/integration/ingest-store-conformance.test.ts.
 *
 * Exactly-once ingest rests on `recordCommit`: the commit's log row, its accepted records and
 * the cursor that covers them are written in one transaction. Applying a record to its thread
 * happens afterwards and is idempotent by message id; `pendingRecords` lists what a crash left
 * unapplied.
 */
import type { IngestLease } from './ingest-lease.ts';

export type SourceKind = 'PDS' | 'AppView' | 'Other';
export const SOURCE_KINDS: readonly SourceKind[] = ['PDS', 'AppView', 'Other'];

export interface FederationSource {
  id: string;
  kind: SourceKind;
  name: string;
  /** Absolute http(s) or ws(s) URL of the service. */
  serviceEndpoint: string;
  isEnabled: boolean;
  allowIngest: boolean;
  denyReason: string | null;
  /** Ingested commits per minute from this source (paced, never dropped). */
  rateLimitPerMinute: number;
  metadata: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export type SourceInput = Omit<FederationSource, 'id' | 'createdAt' | 'updatedAt'>;

export type SyncStatus = 'active' | 'paused' | 'failing' | 'denied';

/** One row per (source, did); `did` null is the source-wide row holding the firehose cursor. */
export interface SyncState {
  sourceId: string;
  did: string | null;
  status: SyncStatus;
  cursor: string | null;
  lastSeq: number | null;
  lastSuccessAt: number | null;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  failureCount: number;
  failureReason: string | null;
}

export type CommitStatus = 'applied' | 'rejected' | 'duplicate' | 'out_of_order';

export interface CommitOperation {
  action: 'create' | 'update' | 'delete';
  collection: string;
  rkey: string;
  cid: string | null;
  /** What became of this operation (a commit can carry several). */
  status?: CommitStatus;
  reason?: string;
}

export interface CommitLogEntry {
  sourceId: string;
  did: string;
  seq: number;
  commitCid: string;
  rev: string;
  /** The commit's `since` (rev of the previous commit), or null. */
  since: string | null;
  operations: CommitOperation[];
  receivedAt: number;
  status: CommitStatus;
  reason: string | null;
}

/** An accepted record and the message it becomes. */
export interface IngestedRecord {
  uri: string;
  cid: string;
  did: string;
  collection: string;
  rkey: string;
  value: Record<string, unknown>;
  sourceId: string;
  threadId: string;
  messageId: string;
  ingestedAt: number;
  /** When it was appended to its thread; null while pending. */
  appliedAt: number | null;
}

/**
 * An accepted `update` (an edit) or `delete` (a deletion) of an ingested record by its own
 * repo (design/message-lifecycle.md, "AT mapping"), waiting to be applied to its thread.
 * Stored with the commit that carried it; dropped once applied (applying it again changes
 * nothing: the edit is keyed by `rev`, a deletion is final).
 */
export interface RecordChange {
  did: string;
  collection: string;
  rkey: string;
  /** The commit's rev: the edit's id in the thread (`edits` key `<messageId>|<rev>`). */
  rev: string;
  action: 'update' | 'delete';
  /** The message's author in the thread (from the record as first ingested). */
  authorId: string;
  /** The new record (update); null for a delete. */
  value: Record<string, unknown> | null;
  threadId: string;
  messageId: string;
  ingestedAt: number;
}

/** Identifies one stored RecordChange. */
export type RecordChangeKey = Pick<RecordChange, 'did' | 'collection' | 'rkey' | 'rev'>;

/** Everything one received commit changes, written atomically by `recordCommit`. */
export interface CommitWrite {
  entry: CommitLogEntry;
  records: Array<Omit<IngestedRecord, 'appliedAt'>>;
  /** Accepted edits and deletions of records ingested before. */
  changes?: RecordChange[];
  /** The source-wide cursor after this event. */
  cursor: string;
  now: number;
}

export interface CommitLogQuery {
  sourceId?: string;
  did?: string;
  afterSeq?: number;
  limit: number;
}

export interface IngestStore {
  /** The lease on running the firehose consumers (exactly one instance per database). */
  lease(): IngestLease;
  createSource(s: SourceInput, now: number): Promise<FederationSource>;
  listSources(): Promise<FederationSource[]>;
  getSource(id: string): Promise<FederationSource | null>;
  /** Updates the given fields; null when unknown. */
  updateSource(id: string, patch: Partial<SourceInput>, now: number): Promise<FederationSource | null>;
  /** Deletes a source and its sync state (its commit log and records stay). False when unknown. */
  deleteSource(id: string): Promise<boolean>;

  getSyncState(sourceId: string, did: string | null): Promise<SyncState | null>;
  listSyncState(q: { sourceId?: string; did?: string }): Promise<SyncState[]>;
  /** Creates or updates the row of (source, did) with the given fields. */
  putSyncState(sourceId: string, did: string | null, patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): Promise<SyncState>;

  /**
   * Atomically: appends the commit-log row, stores the accepted records (first writer of a
   * (did, collection, rkey) wins) and changes (one per (record, rev)), and advances the
   * source-wide cursor and the per-did `lastSeq`/`lastSuccessAt`.
   */
  recordCommit(w: CommitWrite): Promise<void>;
  listCommits(q: CommitLogQuery): Promise<CommitLogEntry[]>;
  /** Deletes commit-log rows received before `before`; the only way rows ever leave the log. */
  pruneCommitLog(before: number): Promise<number>;

  /**
   * Stores accepted records that came without a firehose commit (a backfill read them from
   * their repo): no commit-log row, no cursor. First writer of a (did, collection, rkey) wins,
   * as in recordCommit; returns how many were new.
   */
  storeRecords(records: Array<Omit<IngestedRecord, 'appliedAt'>>): Promise<number>;
  getRecord(did: string, collection: string, rkey: string): Promise<IngestedRecord | null>;
  /** Accepted records not yet appended to their thread, oldest first. */
  pendingRecords(limit: number): Promise<IngestedRecord[]>;
  markApplied(uris: string[], now: number): Promise<void>;
  /**
   * Stored edits and deletions whose record is applied to its thread already (so the message
   * they change is there), oldest first.
   */
  pendingChanges(limit: number): Promise<RecordChange[]>;
  /** Drops applied changes (an edit's text is then only in the thread, which a deletion purges). */
  dropChanges(keys: RecordChangeKey[]): Promise<void>;
}
