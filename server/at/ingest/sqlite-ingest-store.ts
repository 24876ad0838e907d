/**
 * SQLite implementation of the ingest tables, sharing the relay's database file (and so its
 * transactions) with the SqliteStore that creates it.
 */
import { type IngestLease, soleInstanceLease } from './ingest-lease.ts';
import type Database from 'better-sqlite3';
import { ulid } from 'ulid';
import type {
  CommitLogEntry,
  CommitLogQuery,
  CommitWrite,
  FederationSource,
  IngestStore,
  IngestedRecord,
  RecordChange,
  RecordChangeKey,
  SourceInput,
  SyncState,
} from './ingest-store.ts';
import { type ChangeRow, type CommitRow, type RecordRow, type SourceRow, type SyncRow, SOURCE_FIELDS, SYNC_FIELDS, toChange, toCommit, toRecord, toSource, toSync } from './ingest-rows.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS federation_sources (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('PDS', 'AppView', 'Other')),
  name TEXT NOT NULL UNIQUE,
  service_endpoint TEXT NOT NULL,
  is_enabled INTEGER NOT NULL,
  allow_ingest INTEGER NOT NULL,
  deny_reason TEXT,
  rate_limit_per_minute INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_state (
  source_id TEXT NOT NULL REFERENCES federation_sources(id) ON DELETE CASCADE,
  did TEXT,
  status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'failing', 'denied')),
  cursor TEXT,
  last_seq INTEGER,
  last_success_at INTEGER,
  last_attempt_at INTEGER,
  next_attempt_at INTEGER,
  failure_count INTEGER NOT NULL DEFAULT 0,
  failure_reason TEXT
);
-- NULL is distinct from NULL in a UNIQUE constraint: the source-wide row (did NULL) needs the coalesce.
CREATE UNIQUE INDEX IF NOT EXISTS sync_state_key ON sync_state(source_id, coalesce(did, ''));
CREATE TABLE IF NOT EXISTS commit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source_id TEXT NOT NULL,
  did TEXT NOT NULL,
  seq INTEGER NOT NULL,
  commit_cid TEXT NOT NULL,
  rev TEXT NOT NULL,
  since TEXT,
  operations TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('applied', 'rejected', 'duplicate', 'out_of_order')),
  reason TEXT
);
CREATE INDEX IF NOT EXISTS commit_log_by_repo ON commit_log(source_id, did, seq);
CREATE INDEX IF NOT EXISTS commit_log_by_seq ON commit_log(source_id, seq);
CREATE INDEX IF NOT EXISTS commit_log_by_time ON commit_log(received_at);
-- The log is append-only in the database itself: rows are never updated, and deleted only
-- below the retention horizon, which moves forward and never past the present.
CREATE TABLE IF NOT EXISTS commit_log_horizon (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  prune_before INTEGER NOT NULL
);
INSERT OR IGNORE INTO commit_log_horizon (id, prune_before) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS commit_log_no_update BEFORE UPDATE ON commit_log
BEGIN SELECT RAISE(ABORT, 'commit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS commit_log_no_delete BEFORE DELETE ON commit_log
WHEN OLD.received_at >= (SELECT prune_before FROM commit_log_horizon WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'commit_log rows are only deleted by retention pruning'); END;
CREATE TRIGGER IF NOT EXISTS commit_log_horizon_forward BEFORE UPDATE ON commit_log_horizon
WHEN NEW.prune_before < OLD.prune_before OR NEW.prune_before > CAST(unixepoch('now', 'subsec') * 1000 AS INTEGER)
BEGIN SELECT RAISE(ABORT, 'the retention horizon only moves forward, up to now'); END;
CREATE TRIGGER IF NOT EXISTS commit_log_horizon_no_delete BEFORE DELETE ON commit_log_horizon
BEGIN SELECT RAISE(ABORT, 'the retention horizon cannot be deleted'); END;
CREATE TABLE IF NOT EXISTS records (
  did TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  uri TEXT NOT NULL,
  cid TEXT NOT NULL,
  value TEXT NOT NULL,
  source_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  ingested_at INTEGER NOT NULL,
  applied_at INTEGER,
  PRIMARY KEY (did, collection, rkey)
);
CREATE INDEX IF NOT EXISTS records_pending ON records(ingested_at) WHERE applied_at IS NULL;
CREATE INDEX IF NOT EXISTS records_by_uri ON records(uri);
-- Edits and deletions of ingested records waiting for their thread (design/message-lifecycle.md).
CREATE TABLE IF NOT EXISTS record_changes (
  did TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  rev TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('update', 'delete')),
  author_id TEXT NOT NULL,
  value TEXT,
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  ingested_at INTEGER NOT NULL,
  PRIMARY KEY (did, collection, rkey, rev)
);
CREATE INDEX IF NOT EXISTS record_changes_by_message ON record_changes(thread_id, message_id);
`;

const sqlValue = (v: unknown): unknown =>
  typeof v === 'boolean' ? (v ? 1 : 0) : v !== null && typeof v === 'object' ? JSON.stringify(v) : v;

export class SqliteIngestStore implements IngestStore {
  private readonly q;

  lease(): IngestLease {
    return soleInstanceLease;
  }

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.q = {
      source: db.prepare<[string], SourceRow>('SELECT * FROM federation_sources WHERE id = ?'),
      sources: db.prepare<[], SourceRow>('SELECT * FROM federation_sources ORDER BY created_at, id'),
      insertSource: db.prepare(
        `INSERT INTO federation_sources (id, kind, name, service_endpoint, is_enabled, allow_ingest, deny_reason,
           rate_limit_per_minute, metadata, created_at, updated_at)
         VALUES (@id, @kind, @name, @serviceEndpoint, @isEnabled, @allowIngest, @denyReason, @rateLimitPerMinute,
           @metadata, @now, @now)`,
      ),
      deleteSource: db.prepare('DELETE FROM federation_sources WHERE id = ?'),
      deleteSyncOfSource: db.prepare('DELETE FROM sync_state WHERE source_id = ?'),
      sync: db.prepare<[string, string], SyncRow>("SELECT * FROM sync_state WHERE source_id = ? AND coalesce(did, '') = ?"),
      insertSync: db.prepare("INSERT INTO sync_state (source_id, did, status) VALUES (?, ?, 'active')"),
      insertCommit: db.prepare(
        `INSERT INTO commit_log (source_id, did, seq, commit_cid, rev, since, operations, received_at, status, reason)
         VALUES (@sourceId, @did, @seq, @commitCid, @rev, @since, @operations, @receivedAt, @status, @reason)`,
      ),
      insertRecord: db.prepare(
        `INSERT OR IGNORE INTO records (did, collection, rkey, uri, cid, value, source_id, thread_id, message_id, ingested_at)
         VALUES (@did, @collection, @rkey, @uri, @cid, @value, @sourceId, @threadId, @messageId, @ingestedAt)`,
      ),
      record: db.prepare<[string, string, string], RecordRow>('SELECT * FROM records WHERE did = ? AND collection = ? AND rkey = ?'),
      pending: db.prepare<[number], RecordRow>('SELECT * FROM records WHERE applied_at IS NULL ORDER BY ingested_at, rowid LIMIT ?'),
      markApplied: db.prepare('UPDATE records SET applied_at = ? WHERE uri = ? AND applied_at IS NULL'),
      insertChange: db.prepare(
        `INSERT OR IGNORE INTO record_changes (did, collection, rkey, rev, action, author_id, value, thread_id, message_id, ingested_at)
         VALUES (@did, @collection, @rkey, @rev, @action, @authorId, @value, @threadId, @messageId, @ingestedAt)`,
      ),
      pendingChanges: db.prepare<[number], ChangeRow>(
        `SELECT c.* FROM record_changes c JOIN records r ON r.did = c.did AND r.collection = c.collection AND r.rkey = c.rkey
         WHERE r.applied_at IS NOT NULL ORDER BY c.ingested_at, c.rowid LIMIT ?`,
      ),
      dropChange: db.prepare('DELETE FROM record_changes WHERE did = ? AND collection = ? AND rkey = ? AND rev = ?'),
      horizon: db.prepare('UPDATE commit_log_horizon SET prune_before = max(prune_before, ?) WHERE id = 1'),
      prune: db.prepare('DELETE FROM commit_log WHERE received_at < ?'),
    };
  }

  async createSource(s: SourceInput, now: number): Promise<FederationSource> {
    const id = ulid();
    this.q.insertSource.run({
      id,
      kind: s.kind,
      name: s.name,
      serviceEndpoint: s.serviceEndpoint,
      isEnabled: s.isEnabled ? 1 : 0,
      allowIngest: s.allowIngest ? 1 : 0,
      denyReason: s.denyReason,
      rateLimitPerMinute: s.rateLimitPerMinute,
      metadata: JSON.stringify(s.metadata),
      now,
    });
    return toSource(this.q.source.get(id)!);
  }

  async listSources(): Promise<FederationSource[]> {
    return this.q.sources.all().map(toSource);
  }

  async getSource(id: string): Promise<FederationSource | null> {
    const r = this.q.source.get(id);
    return r ? toSource(r) : null;
  }

  async updateSource(id: string, patch: Partial<SourceInput>, now: number): Promise<FederationSource | null> {
    const keys = (Object.keys(patch) as Array<keyof SourceInput>).filter((k) => k in SOURCE_FIELDS && patch[k] !== undefined);
    const sets = [...keys.map((k) => `${SOURCE_FIELDS[k]} = ?`), 'updated_at = ?'];
    const res = this.db
      .prepare(`UPDATE federation_sources SET ${sets.join(', ')} WHERE id = ?`)
      .run(...keys.map((k) => sqlValue(patch[k])), now, id);
    return res.changes ? this.getSource(id) : null;
  }

  async deleteSource(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.q.deleteSyncOfSource.run(id);
      return this.q.deleteSource.run(id).changes > 0;
    })();
  }

  async getSyncState(sourceId: string, did: string | null): Promise<SyncState | null> {
    const r = this.q.sync.get(sourceId, did ?? '');
    return r ? toSync(r) : null;
  }

  async listSyncState(q: { sourceId?: string; did?: string }): Promise<SyncState[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (q.sourceId) (where.push('source_id = ?'), args.push(q.sourceId));
    if (q.did) (where.push('did = ?'), args.push(q.did));
    const sql = `SELECT * FROM sync_state ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY source_id, coalesce(did, '')`;
    return this.db.prepare<string[], SyncRow>(sql).all(...args).map(toSync);
  }

  async putSyncState(sourceId: string, did: string | null, patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): Promise<SyncState> {
    return this.db.transaction(() => this.put(sourceId, did, patch))();
  }

  private put(sourceId: string, did: string | null, patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): SyncState {
    if (!this.q.sync.get(sourceId, did ?? '')) this.q.insertSync.run(sourceId, did);
    const keys = (Object.keys(patch) as Array<keyof typeof SYNC_FIELDS>).filter((k) => k in SYNC_FIELDS && patch[k] !== undefined);
    if (keys.length) {
      this.db
        .prepare(`UPDATE sync_state SET ${keys.map((k) => `${SYNC_FIELDS[k]} = ?`).join(', ')} WHERE source_id = ? AND coalesce(did, '') = ?`)
        .run(...keys.map((k) => patch[k] as unknown), sourceId, did ?? '');
    }
    return toSync(this.q.sync.get(sourceId, did ?? '')!);
  }

  async recordCommit(w: CommitWrite): Promise<void> {
    const { entry: e } = w;
    this.db.transaction(() => {
      this.q.insertCommit.run({ ...e, operations: JSON.stringify(e.operations) });
      for (const r of w.records) this.q.insertRecord.run({ ...r, value: JSON.stringify(r.value) });
      for (const c of w.changes ?? []) this.q.insertChange.run({ ...c, value: c.value === null ? null : JSON.stringify(c.value) });
      this.put(e.sourceId, null, { cursor: w.cursor, lastSeq: e.seq, lastSuccessAt: w.now });
      // The per-repo row never moves back: an out-of-order event is logged, not applied.
      const prev = this.q.sync.get(e.sourceId, e.did);
      const lastSeq = Math.max(prev?.last_seq ?? 0, e.seq);
      this.put(e.sourceId, e.did, { cursor: String(lastSeq), lastSeq, lastSuccessAt: w.now });
    })();
  }

  async listCommits(q: CommitLogQuery): Promise<CommitLogEntry[]> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.sourceId) (where.push('source_id = ?'), args.push(q.sourceId));
    if (q.did) (where.push('did = ?'), args.push(q.did));
    if (q.afterSeq !== undefined) (where.push('seq > ?'), args.push(q.afterSeq));
    const sql = `SELECT * FROM commit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq, id LIMIT ?`;
    return this.db.prepare<Array<string | number>, CommitRow>(sql).all(...args, q.limit).map(toCommit);
  }

  async pruneCommitLog(before: number): Promise<number> {
    return this.db.transaction(() => {
      this.q.horizon.run(before);
      return this.q.prune.run(before).changes;
    })();
  }

  async storeRecords(records: Array<Omit<IngestedRecord, 'appliedAt'>>): Promise<number> {
    return this.db.transaction(() => {
      let n = 0;
      for (const r of records) n += this.q.insertRecord.run({ ...r, value: JSON.stringify(r.value) }).changes;
      return n;
    })();
  }

  async getRecord(did: string, collection: string, rkey: string): Promise<IngestedRecord | null> {
    const r = this.q.record.get(did, collection, rkey);
    return r ? toRecord(r) : null;
  }

  async pendingRecords(limit: number): Promise<IngestedRecord[]> {
    return this.q.pending.all(limit).map(toRecord);
  }

  async markApplied(uris: string[], now: number): Promise<void> {
    this.db.transaction(() => {
      for (const u of uris) this.q.markApplied.run(now, u);
    })();
  }

  async pendingChanges(limit: number): Promise<RecordChange[]> {
    return this.q.pendingChanges.all(limit).map(toChange);
  }

  async dropChanges(keys: RecordChangeKey[]): Promise<void> {
    this.db.transaction(() => {
      for (const k of keys) this.q.dropChange.run(k.did, k.collection, k.rkey, k.rev);
    })();
  }
}
