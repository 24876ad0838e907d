/**
 * The two ways PostgresStore assigns seqs in `commitMessages`, both gap-free across
 * processes: the update rows, message rows, the thread's last_seq/last_sent_at and the
 * outbox rows are written by one transaction that holds the thread row's lock.
 *
 * - `row-lock`: BEGIN; take the thread row FOR UPDATE; read the known ids; assign seqs in JS
 *   (assignSequence); write; COMMIT. Five round trips, the lock held across four of them.
 * - `counter`: one statement. `UPDATE threads SET last_seq = last_seq + n … RETURNING` is
 *   the lock and the counter; the messages are numbered from what it returns. The known-id
 *   check reads the statement's snapshot, which may predate a concurrent commit of the same
 *   id: that commit's row then fails the (thread_id, id) unique key, the statement rolls
 *   back as a whole, and it is retried with a fresh snapshot. One round trip; the lock is
 *   held for the statement only.
 *
 * Given the writer's generation, both refuse (GenerationSealedError, nothing written) when the
 * thread row, read under its lock, is at another one: a roll updates that row, so it either
 * committed before the lock was taken or waits for this commit.
 */
import type pg from 'pg';
import { assignSequence } from './sequencer.ts';
import { inTransaction } from './postgres-schema.ts';
import { GenerationSealedError, type MessageCandidate, type StoredMessage } from './store.ts';

export type Sequencing = 'row-lock' | 'counter';

/** Columns of the message rows, as parallel arrays (one statement inserts them all). */
function columns(ms: Array<Omit<StoredMessage, 'seq' | 'sentAt' | 'threadId'>>) {
  return [
    ms.map((m) => m.id),
    ms.map((m) => m.authorId),
    ms.map((m) => m.text),
    ms.map((m) => m.clientSentAt),
    ms.map((m) => m.replyTo ?? null),
    ms.map((m) => m.state),
    ms.map((m) => m.error ?? null),
    ms.map((m) => m.atUri ?? null),
    ms.map((m) => m.atCid ?? null),
  ];
}

/**
 * A guarded write matched no thread row: throws GenerationSealedError when the thread exists
 * at another generation (it rolled), else the unknown-thread error.
 */
export async function refuseWrite(pool: pg.Pool, threadId: string, generation: number): Promise<never> {
  const { rows } = await pool.query<{ generation: number }>('SELECT generation FROM threads WHERE id = $1', [threadId]);
  if (rows[0] && rows[0].generation !== generation) throw new GenerationSealedError(threadId, generation, rows[0].generation);
  throw new Error(`unknown thread ${threadId}`);
}

export function commitWithRowLock(
  pool: pg.Pool,
  threadId: string,
  blobs: Buffer[],
  candidates: MessageCandidate[],
  now: number,
  generation?: number,
): Promise<StoredMessage[]> {
  return inTransaction(pool, async (c) => {
    const { rows } = await c.query<{ mirror: boolean; last_seq: number; last_sent_at: number; generation: number }>(
      `WITH u AS (INSERT INTO updates (thread_id, data) SELECT $1::text, unnest($2::bytea[]))
       SELECT mirror, last_seq, last_sent_at, generation FROM threads WHERE id = $1 FOR UPDATE`,
      [threadId, blobs],
    );
    const t = rows[0];
    if (!t) throw new Error(`unknown thread ${threadId}`);
    // Under the row lock: a roll committed before is seen here, and the rollback drops the updates.
    if (generation !== undefined && t.generation !== generation) throw new GenerationSealedError(threadId, generation, t.generation);
    // After the lock, in a new statement: its snapshot includes every commit that held it before.
    const ids = candidates.map((x) => x.record.id);
    const known = new Set(
      (await c.query<{ id: string }>('SELECT id FROM messages WHERE thread_id = $1 AND id = ANY($2::text[])', [threadId, ids])).rows.map((r) => r.id),
    );
    const { messages, cursor } = assignSequence(threadId, { lastSeq: t.last_seq, lastSentAt: t.last_sent_at }, candidates, (id) => known.has(id), now);
    if (messages.length === 0) return [];
    const outbox = t.mirror ? messages.filter((m) => m.state === 'sent').map((m) => m.id) : [];
    await c.query(
      `WITH ins AS (
         INSERT INTO messages (thread_id, seq, sent_at, id, author_id, text, client_sent_at, reply_to, state, error, at_uri, at_cid)
         SELECT $1::text, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[],
           $9::text[], $10::text[], $11::text[], $12::text[])
       ), cur AS (
         UPDATE threads SET last_seq = $13, last_sent_at = $14 WHERE id = $1
       )
       INSERT INTO at_outbox (thread_id, message_id, enqueued_at) SELECT $1::text, unnest($15::text[]), $16::bigint ON CONFLICT DO NOTHING`,
      [threadId, messages.map((m) => m.seq), messages.map((m) => m.sentAt), ...columns(messages), cursor.lastSeq, cursor.lastSentAt, outbox, now],
    );
    return messages;
  });
}

const COUNTER_SQL = `
WITH c AS (
  SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
    WITH ORDINALITY AS c(id, author_id, text, client_sent_at, reply_to, state, error, at_uri, at_cid, ord)
), fresh AS (
  SELECT c.*, row_number() OVER (ORDER BY c.ord) AS k FROM c
  WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = $1 AND m.id = c.id)
), n AS (
  SELECT count(*) AS n FROM fresh
), t AS (
  UPDATE threads SET last_seq = last_seq + n.n,
    last_sent_at = CASE WHEN n.n > 0 THEN greatest(last_sent_at, $12) ELSE last_sent_at END
  FROM n WHERE id = $1 AND ($13::integer IS NULL OR generation = $13)
  RETURNING last_seq - n.n AS base, last_sent_at, mirror
), u AS (
  INSERT INTO updates (thread_id, data) SELECT $1::text, unnest($2::bytea[]) WHERE EXISTS (SELECT 1 FROM t)
), ins AS (
  INSERT INTO messages (thread_id, seq, sent_at, id, author_id, text, client_sent_at, reply_to, state, error, at_uri, at_cid)
  SELECT $1::text, t.base + f.k, t.last_sent_at, f.id, f.author_id, f.text, f.client_sent_at, f.reply_to, f.state, f.error, f.at_uri, f.at_cid
  FROM fresh f, t
  RETURNING id, seq, sent_at, state
), ob AS (
  INSERT INTO at_outbox (thread_id, message_id, enqueued_at)
  SELECT $1::text, i.id, $12::bigint FROM ins i, t WHERE t.mirror AND i.state = 'sent'
  ON CONFLICT DO NOTHING
)
SELECT i.id, i.seq, i.sent_at FROM t LEFT JOIN ins i ON true`;

const UNIQUE_VIOLATION = '23505';

export async function commitWithCounter(
  pool: pg.Pool,
  threadId: string,
  blobs: Buffer[],
  candidates: MessageCandidate[],
  now: number,
  generation?: number,
): Promise<StoredMessage[]> {
  // A batch repeating an id keeps its first occurrence (as assignSequence does).
  const seen = new Set<string>();
  const batch = candidates.filter((c) => !seen.has(c.record.id) && seen.add(c.record.id));
  const records = batch.map((c) => ({
    ...c.record,
    state: c.state,
    ...(c.error ? { error: c.error } : {}),
    ...(c.atUri ? { atUri: c.atUri } : {}),
    ...(c.atCid ? { atCid: c.atCid } : {}),
  }));
  for (let attempt = 1; ; attempt++) {
    let rows: Array<{ id: string | null; seq: number; sent_at: number }>;
    try {
      ({ rows } = await pool.query(COUNTER_SQL, [threadId, blobs, ...columns(records), now, generation ?? null]));
    } catch (err) {
      // Another process committed one of these ids after our snapshot: try again (it is known now).
      if ((err as { code?: string }).code === UNIQUE_VIOLATION && attempt < 5) continue;
      throw err;
    }
    // No row updated: unknown thread, or (guarded) a roll committed first; nothing was written.
    if (rows.length === 0) return generation === undefined ? Promise.reject(new Error(`unknown thread ${threadId}`)) : refuseWrite(pool, threadId, generation);
    const byId = new Map(records.map((r) => [r.id, r]));
    return rows
      .filter((r): r is { id: string; seq: number; sent_at: number } => r.id !== null)
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({ ...byId.get(r.id)!, threadId, seq: r.seq, sentAt: r.sent_at }));
  }
}
