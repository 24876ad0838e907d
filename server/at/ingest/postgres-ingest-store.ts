/**
 * PostgreSQL implementation of the ingest tables, on the pool (and database) of the
 * PostgresStore that creates it. The tables come from server/store/postgres-schema.ts.
 */
import type pg from 'pg';
import { ulid } from 'ulid';
import { inTransaction } from '../../store/postgres-schema.ts';
import type { IngestLease } from './ingest-lease.ts';
import { PostgresIngestLease } from './postgres-ingest-lease.ts';
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

// node-postgres would turn a JS array into a PostgreSQL array: JSON columns get text.
const sqlValue = (v: unknown): unknown => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v);

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** AT ingest storage on PostgreSQL; obtained as `PostgresStore.ingest`. */
export class PostgresIngestStore implements IngestStore {
  constructor(private readonly pool: pg.Pool) {}

  lease(): IngestLease {
    return new PostgresIngestLease(this.pool);
  }

  async createSource(s: SourceInput, now: number): Promise<FederationSource> {
    const { rows } = await this.pool.query<SourceRow>(
      `INSERT INTO federation_sources (id, kind, name, service_endpoint, is_enabled, allow_ingest, deny_reason,
         rate_limit_per_minute, metadata, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *`,
      [ulid(), s.kind, s.name, s.serviceEndpoint, s.isEnabled, s.allowIngest, s.denyReason, s.rateLimitPerMinute, JSON.stringify(s.metadata), now],
    );
    return toSource(rows[0]!);
  }

  async listSources(): Promise<FederationSource[]> {
    return (await this.pool.query<SourceRow>('SELECT * FROM federation_sources ORDER BY created_at, id')).rows.map(toSource);
  }

  async getSource(id: string): Promise<FederationSource | null> {
    const { rows } = await this.pool.query<SourceRow>('SELECT * FROM federation_sources WHERE id = $1', [id]);
    return rows[0] ? toSource(rows[0]) : null;
  }

  async updateSource(id: string, patch: Partial<SourceInput>, now: number): Promise<FederationSource | null> {
    const keys = (Object.keys(patch) as Array<keyof SourceInput>).filter((k) => k in SOURCE_FIELDS && patch[k] !== undefined);
    const sets = [...keys.map((k, i) => `${SOURCE_FIELDS[k]} = $${i + 1}`), `updated_at = $${keys.length + 1}`];
    const { rows } = await this.pool.query<SourceRow>(
      `UPDATE federation_sources SET ${sets.join(', ')} WHERE id = $${keys.length + 2} RETURNING *`,
      [...keys.map((k) => sqlValue(patch[k])), now, id],
    );
    return rows[0] ? toSource(rows[0]) : null;
  }

  async deleteSource(id: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM sync_state WHERE source_id = $1', [id]);
      return ((await c.query('DELETE FROM federation_sources WHERE id = $1', [id])).rowCount ?? 0) > 0;
    });
  }

  async getSyncState(sourceId: string, did: string | null): Promise<SyncState | null> {
    const { rows } = await this.pool.query<SyncRow>("SELECT * FROM sync_state WHERE source_id = $1 AND coalesce(did, '') = $2", [sourceId, did ?? '']);
    return rows[0] ? toSync(rows[0]) : null;
  }

  async listSyncState(q: { sourceId?: string; did?: string }): Promise<SyncState[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (q.sourceId) (args.push(q.sourceId), where.push(`source_id = $${args.length}`));
    if (q.did) (args.push(q.did), where.push(`did = $${args.length}`));
    const sql = `SELECT * FROM sync_state ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY source_id, coalesce(did, '')`;
    return (await this.pool.query<SyncRow>(sql, args)).rows.map(toSync);
  }

  putSyncState(sourceId: string, did: string | null, patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): Promise<SyncState> {
    return inTransaction(this.pool, (c) => this.put(c, sourceId, did, patch));
  }

  private async put(c: Queryable, sourceId: string, did: string | null, patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): Promise<SyncState> {
    await c.query(
      `INSERT INTO sync_state (source_id, did, status) VALUES ($1, $2, 'active') ON CONFLICT (source_id, (coalesce(did, ''))) DO NOTHING`,
      [sourceId, did],
    );
    const keys = (Object.keys(patch) as Array<keyof typeof SYNC_FIELDS>).filter((k) => k in SYNC_FIELDS && patch[k] !== undefined);
    const sets = keys.map((k, i) => `${SYNC_FIELDS[k]} = $${i + 3}`);
    // A no-op SET still returns the row (and locks it, as the update would).
    const { rows } = await c.query<SyncRow>(
      `UPDATE sync_state SET ${sets.length ? sets.join(', ') : 'status = status'} WHERE source_id = $1 AND coalesce(did, '') = $2 RETURNING *`,
      [sourceId, did ?? '', ...keys.map((k) => patch[k])],
    );
    return toSync(rows[0]!);
  }

  async recordCommit(w: CommitWrite): Promise<void> {
    const { entry: e } = w;
    await inTransaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO commit_log (source_id, did, seq, commit_cid, rev, since, operations, received_at, status, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [e.sourceId, e.did, e.seq, e.commitCid, e.rev, e.since, JSON.stringify(e.operations), e.receivedAt, e.status, e.reason],
      );
      // First writer of a (did, collection, rkey) wins; the rows go in their given order.
      for (const r of w.records) {
        await c.query(
          `INSERT INTO records (did, collection, rkey, uri, cid, value, source_id, thread_id, message_id, ingested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [r.did, r.collection, r.rkey, r.uri, r.cid, JSON.stringify(r.value), r.sourceId, r.threadId, r.messageId, r.ingestedAt],
        );
      }
      for (const ch of w.changes ?? []) {
        await c.query(
          `INSERT INTO record_changes (did, collection, rkey, rev, action, author_id, value, thread_id, message_id, ingested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [ch.did, ch.collection, ch.rkey, ch.rev, ch.action, ch.authorId, ch.value === null ? null : JSON.stringify(ch.value), ch.threadId, ch.messageId, ch.ingestedAt],
        );
      }
      await this.put(c, e.sourceId, null, { cursor: w.cursor, lastSeq: e.seq, lastSuccessAt: w.now });
      // The per-repo row never moves back: an out-of-order event is logged, not applied.
      await c.query(
        `INSERT INTO sync_state (source_id, did, status) VALUES ($1, $2, 'active') ON CONFLICT (source_id, (coalesce(did, ''))) DO NOTHING`,
        [e.sourceId, e.did],
      );
      await c.query(
        `UPDATE sync_state SET last_seq = greatest(coalesce(last_seq, 0), $3), cursor = greatest(coalesce(last_seq, 0), $3)::text,
           last_success_at = $4
         WHERE source_id = $1 AND did = $2`,
        [e.sourceId, e.did, e.seq, w.now],
      );
    });
  }

  async listCommits(q: CommitLogQuery): Promise<CommitLogEntry[]> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.sourceId) (args.push(q.sourceId), where.push(`source_id = $${args.length}`));
    if (q.did) (args.push(q.did), where.push(`did = $${args.length}`));
    if (q.afterSeq !== undefined) (args.push(q.afterSeq), where.push(`seq > $${args.length}`));
    args.push(q.limit);
    const sql = `SELECT * FROM commit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq, id LIMIT $${args.length}`;
    return (await this.pool.query<CommitRow>(sql, args)).rows.map(toCommit);
  }

  async pruneCommitLog(before: number): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      await c.query('UPDATE commit_log_horizon SET prune_before = greatest(prune_before, $1) WHERE id = 1', [before]);
      return (await c.query('DELETE FROM commit_log WHERE received_at < $1', [before])).rowCount ?? 0;
    });
  }

  async storeRecords(records: Array<Omit<IngestedRecord, 'appliedAt'>>): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      let n = 0;
      for (const r of records) {
        const res = await c.query(
          `INSERT INTO records (did, collection, rkey, uri, cid, value, source_id, thread_id, message_id, ingested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [r.did, r.collection, r.rkey, r.uri, r.cid, JSON.stringify(r.value), r.sourceId, r.threadId, r.messageId, r.ingestedAt],
        );
        n += res.rowCount ?? 0;
      }
      return n;
    });
  }

  async getRecord(did: string, collection: string, rkey: string): Promise<IngestedRecord | null> {
    const { rows } = await this.pool.query<RecordRow>('SELECT * FROM records WHERE did = $1 AND collection = $2 AND rkey = $3', [did, collection, rkey]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async pendingRecords(limit: number): Promise<IngestedRecord[]> {
    const { rows } = await this.pool.query<RecordRow>('SELECT * FROM records WHERE applied_at IS NULL ORDER BY ingested_at, pos LIMIT $1', [limit]);
    return rows.map(toRecord);
  }

  async markApplied(uris: string[], now: number): Promise<void> {
    if (uris.length === 0) return;
    await this.pool.query('UPDATE records SET applied_at = $1 WHERE uri = ANY($2::text[]) AND applied_at IS NULL', [now, uris]);
  }

  async pendingChanges(limit: number): Promise<RecordChange[]> {
    const { rows } = await this.pool.query<ChangeRow>(
      `SELECT c.* FROM record_changes c JOIN records r ON r.did = c.did AND r.collection = c.collection AND r.rkey = c.rkey
       WHERE r.applied_at IS NOT NULL ORDER BY c.ingested_at, c.pos LIMIT $1`,
      [limit],
    );
    return rows.map(toChange);
  }

  async dropChanges(keys: RecordChangeKey[]): Promise<void> {
    for (const k of keys) {
      await this.pool.query('DELETE FROM record_changes WHERE did = $1 AND collection = $2 AND rkey = $3 AND rev = $4', [k.did, k.collection, k.rkey, k.rev]);
    }
  }
}
