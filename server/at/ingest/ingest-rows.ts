/**
 * Rows of the ingest tables as every IngestStore backend reads them, and their mapping to the
 * interface's types. SQLite returns booleans as 0/1 and JSON as text; PostgreSQL returns
 * booleans and jsonb values: the mappers accept both.
 */
import type { CommitLogEntry, FederationSource, IngestedRecord, RecordChange, SourceInput, SyncState } from './ingest-store.ts';

const bool = (v: number | boolean): boolean => v === true || v === 1;
const json = <T>(v: string | T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export interface SourceRow {
  id: string;
  kind: FederationSource['kind'];
  name: string;
  service_endpoint: string;
  is_enabled: number | boolean;
  allow_ingest: number | boolean;
  deny_reason: string | null;
  rate_limit_per_minute: number;
  metadata: string | Record<string, unknown>;
  created_at: number;
  updated_at: number;
}

export interface SyncRow {
  source_id: string;
  did: string | null;
  status: SyncState['status'];
  cursor: string | null;
  last_seq: number | null;
  last_success_at: number | null;
  last_attempt_at: number | null;
  next_attempt_at: number | null;
  failure_count: number;
  failure_reason: string | null;
}

export interface CommitRow {
  source_id: string;
  did: string;
  seq: number;
  commit_cid: string;
  rev: string;
  since: string | null;
  operations: string | CommitLogEntry['operations'];
  received_at: number;
  status: CommitLogEntry['status'];
  reason: string | null;
}

export interface RecordRow {
  did: string;
  collection: string;
  rkey: string;
  uri: string;
  cid: string;
  value: string | Record<string, unknown>;
  source_id: string;
  thread_id: string;
  message_id: string;
  ingested_at: number;
  applied_at: number | null;
}

export interface ChangeRow {
  did: string;
  collection: string;
  rkey: string;
  rev: string;
  action: RecordChange['action'];
  author_id: string;
  value: string | Record<string, unknown> | null;
  thread_id: string;
  message_id: string;
  ingested_at: number;
}

export const toChange = (r: ChangeRow): RecordChange => ({
  did: r.did,
  collection: r.collection,
  rkey: r.rkey,
  rev: r.rev,
  action: r.action,
  authorId: r.author_id,
  value: r.value === null ? null : json(r.value),
  threadId: r.thread_id,
  messageId: r.message_id,
  ingestedAt: r.ingested_at,
});

export const toSource = (r: SourceRow): FederationSource => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  serviceEndpoint: r.service_endpoint,
  isEnabled: bool(r.is_enabled),
  allowIngest: bool(r.allow_ingest),
  denyReason: r.deny_reason,
  rateLimitPerMinute: r.rate_limit_per_minute,
  metadata: json(r.metadata),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const toSync = (r: SyncRow): SyncState => ({
  sourceId: r.source_id,
  did: r.did,
  status: r.status,
  cursor: r.cursor,
  lastSeq: r.last_seq,
  lastSuccessAt: r.last_success_at,
  lastAttemptAt: r.last_attempt_at,
  nextAttemptAt: r.next_attempt_at,
  failureCount: r.failure_count,
  failureReason: r.failure_reason,
});

export const toCommit = (r: CommitRow): CommitLogEntry => ({
  sourceId: r.source_id,
  did: r.did,
  seq: r.seq,
  commitCid: r.commit_cid,
  rev: r.rev,
  since: r.since,
  operations: json(r.operations),
  receivedAt: r.received_at,
  status: r.status,
  reason: r.reason,
});

export const toRecord = (r: RecordRow): IngestedRecord => ({
  uri: r.uri,
  cid: r.cid,
  did: r.did,
  collection: r.collection,
  rkey: r.rkey,
  value: json(r.value),
  sourceId: r.source_id,
  threadId: r.thread_id,
  messageId: r.message_id,
  ingestedAt: r.ingested_at,
  appliedAt: r.applied_at,
});

export const SYNC_FIELDS: Record<keyof Omit<SyncState, 'sourceId' | 'did'>, string> = {
  status: 'status',
  cursor: 'cursor',
  lastSeq: 'last_seq',
  lastSuccessAt: 'last_success_at',
  lastAttemptAt: 'last_attempt_at',
  nextAttemptAt: 'next_attempt_at',
  failureCount: 'failure_count',
  failureReason: 'failure_reason',
};

export const SOURCE_FIELDS: Record<keyof SourceInput, string> = {
  kind: 'kind',
  name: 'name',
  serviceEndpoint: 'service_endpoint',
  isEnabled: 'is_enabled',
  allowIngest: 'allow_ingest',
  denyReason: 'deny_reason',
  rateLimitPerMinute: 'rate_limit_per_minute',
  metadata: 'metadata',
};
