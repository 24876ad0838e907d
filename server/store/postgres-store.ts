/**
 * PostgreSQL storage: several relay processes may share one database. Open it with
 * `PostgresStore.open(opts)` (migrations are async). The schema, row mapping, sequencing
 * and outbox are modules of their own; this class composes them.
 */
import type pg from 'pg';
import { PostgresIngestStore } from '../at/ingest/postgres-ingest-store.ts';
import { type PostgresOptions, createPool, inTransaction, migrate } from './postgres-schema.ts';
import { bytes, buf } from './blobs.ts';
import { mergeLogRows } from './redaction-merge.ts';
import { PostgresOutbox } from './postgres-outbox.ts';
import { type MessageDbRow, MESSAGE_COLS, THREAD_COLS, type ThreadDbRow, toMessage, toThread } from './postgres-rows.ts';
import { type Sequencing, commitWithCounter, commitWithRowLock, refuseWrite } from './postgres-sequencing.ts';
import {
  type CommitOptions,
  delegateOutbox,
  type FoldedReceipt,
  GenerationSealedError,
  type MessageCandidate,
  type NewThread,
  type MessageKey,
  type OutboxStore,
  type RedactOptions,
  type Store,
  type StoredMessage,
  type ThreadRow,
  type ThreadSummary,
  type UpdateLog,
  type ErasedMessage,
} from './store.ts';

export type { PostgresOptions };

/** Advisory lock key ($1 = thread id) held by a compaction, and waited for by a roll. */
const COMPACT_LOCK = "hashtext('skein-compact'), hashtext($1)";

/** The outbox methods (claimOutbox … pruneDiagnostics) are PostgresOutbox's, bound at construction (delegateOutbox). */
export interface PostgresStore extends OutboxStore {}

/**
 * The relay's Store on PostgreSQL (node-postgres pool). Any number of relay processes may
 * share the database: seqs stay gap-free per thread (the thread row is locked for the
 * commit) and outbox rows are claimed with `FOR UPDATE SKIP LOCKED` under a lease.
 */
export class PostgresStore implements Store {
  readonly ingest: PostgresIngestStore;
  private open = true;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly sequencing: Sequencing,
  ) {
    this.ingest = new PostgresIngestStore(pool);
    delegateOutbox(this, new PostgresOutbox(pool));
  }

  /**
   * Connects and migrates the schema (creating `opts.schema` when given). Unlike SQLite,
   * outbox claims are not released here: other processes may hold live ones; a claim of a
   * dead process becomes claimable when its lease runs out.
   */
  static async open(opts: PostgresOptions & { sequencing?: Sequencing }): Promise<PostgresStore> {
    const pool = createPool(opts);
    try {
      await migrate(pool, opts.schema);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresStore(pool, opts.sequencing ?? 'counter');
  }

  private async threadWhere(where: string, args: unknown[], on: Pick<pg.Pool | pg.PoolClient, 'query'> = this.pool): Promise<ThreadRow | null> {
    const { rows } = await on.query<ThreadDbRow>(`SELECT ${THREAD_COLS} FROM threads t WHERE ${where}`, args);
    return rows[0] ? toThread(rows[0]) : null;
  }

  async createThread(t: NewThread): Promise<ThreadRow> {
    await inTransaction(this.pool, async (c) => {
      await c.query('INSERT INTO threads (id, title, mirror, created_at, at_uri, owner) VALUES ($1, $2, $3, $4, $5, $6)', [
        t.id,
        t.title,
        t.mirror,
        t.createdAt,
        t.atUri ?? null,
        t.owner ?? null,
      ]);
      await c.query(
        `INSERT INTO members (thread_id, user_id)
         SELECT $1::text, u FROM unnest($2::text[]) WITH ORDINALITY AS x(u, i) ORDER BY i ON CONFLICT DO NOTHING`,
        [t.id, t.participants],
      );
    });
    return (await this.getThread(t.id))!;
  }

  getThread(id: string): Promise<ThreadRow | null> {
    return this.threadWhere('t.id = $1', [id]);
  }

  getThreadByAtUri(uri: string): Promise<ThreadRow | null> {
    return this.threadWhere('t.at_uri = $1', [uri]);
  }

  async setThreadAtUri(id: string, uri: string): Promise<ThreadRow | null> {
    await this.pool.query('UPDATE threads SET at_uri = $1 WHERE id = $2 AND at_uri IS NULL', [uri, id]);
    return this.getThread(id);
  }

  async listThreadsForUser(userId: string): Promise<ThreadSummary[]> {
    // The summary skips rejected messages: they were taken out of the thread.
    const { rows } = await this.pool.query<
      ThreadDbRow & { lm_id: string | null; lm_author: string; lm_text: string; lm_seq: number; lm_sent_at: number }
    >(
      `SELECT ${THREAD_COLS}, lm.id AS lm_id, lm.author_id AS lm_author, lm.text AS lm_text, lm.seq AS lm_seq, lm.sent_at AS lm_sent_at
       FROM threads t JOIN members mb ON mb.thread_id = t.id AND mb.user_id = $1
       LEFT JOIN LATERAL (
         SELECT id, author_id, text, seq, sent_at FROM messages m
         WHERE m.thread_id = t.id AND m.state <> 'rejected' ORDER BY m.seq DESC LIMIT 1
       ) lm ON t.last_seq > 0
       ORDER BY t.created_at DESC, t.id DESC`,
      [userId],
    );
    return rows.map((r) => ({
      ...toThread(r),
      lastMessage: r.lm_id ? { id: r.lm_id, authorId: r.lm_author, text: r.lm_text, seq: r.lm_seq, sentAt: r.lm_sent_at } : null,
    }));
  }

  async archiveThread(id: string): Promise<ThreadRow | null> {
    await this.pool.query('UPDATE threads SET archived = true WHERE id = $1', [id]);
    return this.getThread(id);
  }

  async setRemote(threadId: string, did: string, present: boolean): Promise<ThreadRow | null> {
    if (present) {
      await this.pool.query(
        `INSERT INTO thread_remotes (thread_id, did) SELECT $1::text, $2::text WHERE EXISTS (SELECT 1 FROM threads WHERE id = $1)
         ON CONFLICT DO NOTHING`,
        [threadId, did],
      );
    } else {
      await this.pool.query('DELETE FROM thread_remotes WHERE thread_id = $1 AND did = $2', [threadId, did]);
    }
    return this.getThread(threadId);
  }

  async setMember(threadId: string, userId: string, present: boolean): Promise<ThreadRow | null> {
    // One statement each way: the membership and its record for erasure change together.
    if (present) {
      await this.pool.query(
        `WITH added AS (
           INSERT INTO members (thread_id, user_id) SELECT $1::text, $2::text WHERE EXISTS (SELECT 1 FROM threads WHERE id = $1)
           ON CONFLICT DO NOTHING
         )
         DELETE FROM former_members WHERE thread_id = $1 AND user_id = $2`,
        [threadId, userId],
      );
    } else {
      await this.pool.query(
        `WITH gone AS (DELETE FROM members WHERE thread_id = $1 AND user_id = $2 RETURNING thread_id, user_id)
         INSERT INTO former_members (thread_id, user_id) SELECT thread_id, user_id FROM gone ON CONFLICT DO NOTHING`,
        [threadId, userId],
      );
    }
    return this.getThread(threadId);
  }

  async setModerators(threadId: string, moderators: string[]): Promise<ThreadRow | null> {
    await this.pool.query('UPDATE members SET moderator = (user_id = ANY($2::text[])) WHERE thread_id = $1', [threadId, moderators]);
    return this.getThread(threadId);
  }

  async listAuthored(authorId: string): Promise<ErasedMessage[]> {
    const { rows } = await this.pool.query<{ thread_id: string; id: string; at_uri: string | null }>(
      'SELECT thread_id, id, at_uri FROM messages WHERE author_id = $1 AND NOT redacted',
      [authorId],
    );
    return rows.map((r) => ({ threadId: r.thread_id, messageId: r.id, atUri: r.at_uri }));
  }

  async listFormerThreads(userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ thread_id: string }>('SELECT thread_id FROM former_members WHERE user_id = $1 ORDER BY thread_id', [userId]);
    return rows.map((r) => r.thread_id);
  }

  async dropReceipts(userId: string): Promise<void> {
    await this.pool.query('DELETE FROM receipts WHERE user_id = $1', [userId]);
  }

  async unarchiveThread(id: string): Promise<ThreadRow | null> {
    await this.pool.query('UPDATE threads SET archived = false WHERE id = $1', [id]);
    return this.getThread(id);
  }

  async loadUpdates(threadId: string): Promise<UpdateLog> {
    const { rows } = await this.pool.query<{ data: Buffer }>('SELECT data FROM updates WHERE thread_id = $1 ORDER BY id', [threadId]);
    return { updates: rows.map((r) => bytes(r.data)) };
  }

  async appendUpdate(threadId: string, update: Uint8Array, generation?: number): Promise<void> {
    await this.appendRows(threadId, [buf(update)], generation);
  }

  /**
   * Appends update rows in one statement. With `generation`, the thread row is share-locked in
   * the same statement: a roll (which updates that row) either committed before — the row no
   * longer matches, nothing is inserted — or waits for this insert, whose row it then replaces.
   */
  private async appendRows(threadId: string, blobs: Buffer[], generation?: number): Promise<void> {
    if (blobs.length === 0) return;
    if (generation === undefined) {
      await this.pool.query('INSERT INTO updates (thread_id, data) SELECT $1::text, unnest($2::bytea[])', [threadId, blobs]);
      return;
    }
    const res = await this.pool.query(
      `WITH t AS (SELECT id FROM threads WHERE id = $1 AND generation = $3 FOR SHARE)
       INSERT INTO updates (thread_id, data) SELECT t.id, unnest($2::bytea[]) FROM t`,
      [threadId, blobs, generation],
    );
    if (!res.rowCount) await refuseWrite(this.pool, threadId, generation);
  }

  async countUpdates(threadId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM updates WHERE thread_id = $1', [threadId]);
    return rows[0]!.n;
  }

  /**
   * Sequencing is safe across processes either way (see postgres-sequencing.ts); by default
   * the thread row's last_seq is taken as an atomic counter in one statement.
   */
  async commitMessages(threadId: string, updates: Uint8Array[], candidates: MessageCandidate[], now: number, opts: CommitOptions = {}): Promise<StoredMessage[]> {
    const stored = await this.sequence(threadId, updates.map(buf), candidates, now, opts.generation);
    // Sequencing is one statement here: the relay's update is one more row, stored before it is sent.
    const relay = opts.relayRow?.(stored)?.relay;
    if (relay) {
      await this.appendUpdate(threadId, relay, opts.generation).catch((err: unknown) => {
        // Rolled in between: the messages are rows (sealed history), their canon needs no log row.
        if (!(err instanceof GenerationSealedError)) throw err;
      });
    }
    return stored;
  }

  private async sequence(threadId: string, blobs: Buffer[], candidates: MessageCandidate[], now: number, generation?: number): Promise<StoredMessage[]> {
    if (candidates.length === 0) {
      // One statement is atomic by itself; like SQLite, a bare update needs no thread row (unless guarded).
      await this.appendRows(threadId, blobs, generation);
      return [];
    }
    return this.sequencing === 'row-lock'
      ? commitWithRowLock(this.pool, threadId, blobs, candidates, now, generation)
      : commitWithCounter(this.pool, threadId, blobs, candidates, now, generation);
  }

  async compact(threadId: string, snapshot: Uint8Array, generation?: number, holds?: (row: Uint8Array) => boolean, deletions?: boolean): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      // One compaction per thread at a time across instances; a second one has nothing to add.
      // A roll takes the same lock (blocking), so the generation read below stays true until COMMIT.
      const { rows: lock } = await c.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${COMPACT_LOCK}) AS ok`, [threadId]);
      if (!lock[0]!.ok) return;
      if (generation !== undefined) {
        const { rows: t } = await c.query<{ generation: number }>('SELECT generation FROM threads WHERE id = $1', [threadId]);
        if (!t[0]) throw new Error(`unknown thread ${threadId}`);
        if (t[0].generation !== generation) throw new GenerationSealedError(threadId, generation, t[0].generation);
      }
      // Only the rows read here are replaced: a row another instance appends meanwhile stays.
      const { rows } = await c.query<{ id: string; data: Buffer }>('SELECT id, data FROM updates WHERE thread_id = $1 ORDER BY id FOR UPDATE', [threadId]);
      const stored = rows.map((r) => bytes(r.data)).filter((r) => !holds?.(r));
      await c.query('DELETE FROM updates WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      await c.query('INSERT INTO updates (thread_id, data) VALUES ($1, $2)', [threadId, buf(mergeLogRows(snapshot, stored, deletions))]);
    });
  }

  async redactMessages(threadId: string, messageIds: string[], opts: RedactOptions): Promise<void> {
    const ids = [...new Set(messageIds)];
    await inTransaction(this.pool, async (c) => {
      // Waits for a compaction running elsewhere (never skipped: the old rows must go).
      await c.query(`SELECT pg_advisory_xact_lock(${COMPACT_LOCK})`, [threadId]);
      if (opts.generation !== undefined) {
        const { rows: t } = await c.query<{ generation: number }>('SELECT generation FROM threads WHERE id = $1', [threadId]);
        if (!t[0]) throw new Error(`unknown thread ${threadId}`);
        if (t[0].generation !== opts.generation) throw new GenerationSealedError(threadId, opts.generation, t[0].generation);
      }
      await c.query("UPDATE messages SET text = '', redacted = true WHERE thread_id = $1 AND id = ANY($2::text[])", [threadId, ids]);
      await c.query('DELETE FROM at_outbox WHERE thread_id = $1 AND message_id = ANY($2::text[])', [threadId, ids]);
      await c.query(`UPDATE records SET value = jsonb_set(value::jsonb, '{text}', '""')::json WHERE thread_id = $1 AND message_id = ANY($2::text[])`, [threadId, ids]);
      // An ingested edit not applied yet holds a text of the message too.
      await c.query('DELETE FROM record_changes WHERE thread_id = $1 AND message_id = ANY($2::text[])', [threadId, ids]);
      const { rows } = await c.query<{ id: string; data: Buffer }>('SELECT id, data FROM updates WHERE thread_id = $1 ORDER BY id FOR UPDATE', [threadId]);
      const stored = rows.map((r) => bytes(r.data)).filter((r) => !opts.holds?.(r));
      await c.query('DELETE FROM updates WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      await c.query('INSERT INTO updates (thread_id, data) VALUES ($1, $2)', [threadId, buf(mergeLogRows(opts.snapshot, stored))]);
    });
    // Dead tuples keep the old text until vacuumed; best effort (the rows above are committed).
    await this.pool.query('VACUUM messages, updates, records, record_changes, at_outbox').catch(() => {});
  }

  async reviseMessages(threadId: string, revisions: Array<{ messageId: string; text: string; editedAt: number }>): Promise<void> {
    for (const r of revisions) {
      await this.pool.query(
        'UPDATE messages SET text = $1, edited_at = $2 WHERE thread_id = $3 AND id = $4 AND NOT redacted AND (edited_at IS NULL OR edited_at <= $2)',
        [r.text, r.editedAt, threadId, r.messageId],
      );
    }
  }

  async listAtEdits(limit: number): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<MessageDbRow>(
      `SELECT ${MESSAGE_COLS} FROM messages WHERE NOT redacted AND at_uri IS NOT NULL AND edited_at IS NOT NULL AND (at_edited_at IS NULL OR at_edited_at < edited_at) LIMIT $1`,
      [limit],
    );
    return rows.map(toMessage);
  }

  async markAtEdited(key: MessageKey, editedAt: number, atCid: string): Promise<void> {
    await this.pool.query('UPDATE messages SET at_edited_at = $1, at_cid = $2 WHERE thread_id = $3 AND id = $4', [editedAt, atCid, key.threadId, key.messageId]);
  }

  async listAtDeletions(limit: number): Promise<Array<MessageKey & { atUri: string }>> {
    const { rows } = await this.pool.query<{ thread_id: string; id: string; at_uri: string }>('SELECT thread_id, id, at_uri FROM messages WHERE redacted AND at_uri IS NOT NULL LIMIT $1', [limit]);
    return rows.map((r) => ({ threadId: r.thread_id, messageId: r.id, atUri: r.at_uri }));
  }

  async clearAtUri(keys: MessageKey[]): Promise<void> {
    for (const k of keys) {
      await this.pool.query('UPDATE messages SET at_uri = NULL, at_cid = NULL WHERE thread_id = $1 AND id = $2 AND redacted', [k.threadId, k.messageId]);
    }
  }

  async listMessages(threadId: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<MessageDbRow>(
      `SELECT ${MESSAGE_COLS} FROM messages WHERE thread_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [threadId, afterSeq, limit],
    );
    return rows.map(toMessage);
  }

  async listMessagesBefore(threadId: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<MessageDbRow>(
      `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE thread_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) m ORDER BY seq`,
      [threadId, beforeSeq, limit],
    );
    return rows.map(toMessage);
  }

  /**
   * The conditional UPDATE takes the thread row lock first: a commit in flight on another
   * process finishes before (its seqs land below `baseSeq`) or waits until after the roll.
   */
  async rollGeneration(threadId: string, fromGeneration: number, snapshot: Uint8Array, receipts: FoldedReceipt[], sealedState?: Uint8Array): Promise<ThreadRow | null> {
    return inTransaction(this.pool, async (c) => {
      // Waits for a compaction of the thread in flight: it must not merge the sealed log into the new one.
      await c.query(`SELECT pg_advisory_xact_lock(${COMPACT_LOCK})`, [threadId]);
      const res = await c.query('UPDATE threads SET generation = generation + 1, base_seq = last_seq WHERE id = $1 AND generation = $2', [
        threadId,
        fromGeneration,
      ]);
      if (res.rowCount === 0) return null;
      await c.query('DELETE FROM updates WHERE thread_id = $1', [threadId]);
      await c.query('INSERT INTO updates (thread_id, data) VALUES ($1, $2)', [threadId, buf(snapshot)]);
      if (receipts.length) {
        // Grouped first: one statement may not upsert the same row twice.
        await c.query(
          `INSERT INTO receipts (thread_id, message_id, user_id, read_at)
           SELECT $1::text, message_id, user_id, max(read_at) FROM unnest($2::text[], $3::text[], $4::float8[]) AS r(message_id, user_id, read_at)
           GROUP BY message_id, user_id
           ON CONFLICT (thread_id, message_id, user_id) DO UPDATE SET read_at = greatest(receipts.read_at, excluded.read_at)`,
          [threadId, receipts.map((r) => r.messageId), receipts.map((r) => r.userId), receipts.map((r) => r.readAt)],
        );
      }
      if (sealedState) {
        await c.query(
          'INSERT INTO sealed_states (thread_id, generation, state_vector) VALUES ($1, $2, $3) ON CONFLICT (thread_id, generation) DO UPDATE SET state_vector = excluded.state_vector',
          [threadId, fromGeneration, buf(sealedState)],
        );
      }
      return this.threadWhere('t.id = $1', [threadId], c);
    });
  }

  async sealedState(threadId: string, generation: number): Promise<Uint8Array | null> {
    const { rows } = await this.pool.query<{ state_vector: Buffer }>('SELECT state_vector FROM sealed_states WHERE thread_id = $1 AND generation = $2', [threadId, generation]);
    return rows[0] ? new Uint8Array(rows[0].state_vector) : null;
  }

  async listReceipts(threadId: string, messageIds: string[]): Promise<FoldedReceipt[]> {
    if (messageIds.length === 0) return [];
    const { rows } = await this.pool.query<{ message_id: string; user_id: string; read_at: number }>(
      'SELECT message_id, user_id, read_at FROM receipts WHERE thread_id = $1 AND message_id = ANY($2::text[])',
      [threadId, [...new Set(messageIds)]],
    );
    return rows.map((r) => ({ messageId: r.message_id, userId: r.user_id, readAt: r.read_at }));
  }

  async getMessage(threadId: string, messageId: string): Promise<StoredMessage | null> {
    const { rows } = await this.pool.query<MessageDbRow>(`SELECT ${MESSAGE_COLS} FROM messages WHERE thread_id = $1 AND id = $2`, [threadId, messageId]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async getMessages(threadId: string, messageIds: string[]): Promise<StoredMessage[]> {
    if (messageIds.length === 0) return [];
    const { rows } = await this.pool.query<MessageDbRow>(`SELECT ${MESSAGE_COLS} FROM messages WHERE thread_id = $1 AND id = ANY($2::text[]) ORDER BY seq`, [
      threadId,
      [...new Set(messageIds)],
    ]);
    return rows.map(toMessage);
  }

  async countOthersMessages(threadId: string, afterSeq: number, beforeSeq: number, notAuthor: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM messages WHERE thread_id = $1 AND seq > $2 AND seq < $3 AND author_id <> $4',
      [threadId, afterSeq, beforeSeq, notAuthor],
    );
    return Number(rows[0]?.n ?? 0);
  }

  isOpen(): boolean {
    return this.open;
  }

  async ping(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([this.pool.query('SELECT 1').then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.pool.end();
  }
}
