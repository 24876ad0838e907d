/**
 * The PostgreSQL store's AT write outbox and failure diagnostics. Several relay processes
 * may drain one outbox: rows are claimed with `FOR UPDATE SKIP LOCKED` under a lease, and
 * batches touch rows in a stable key order so concurrent batches lock them alike.
 */
import type pg from 'pg';
import { MESSAGE_COLS, type MessageDbRow, orderAs, sortedKeys, toMessage } from './postgres-rows.ts';
import { inTransaction } from './postgres-schema.ts';
import type {
  BridgeDiagnostic,
  ConfirmedWrite,
  MessageKey,
  OutboxItem,
  OutboxStats,
  OutboxStore,
  PermanentFailure,
  StoredMessage,
} from './store.ts';

export class PostgresOutbox implements OutboxStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * One statement: due rows are locked with SKIP LOCKED (a row another process is claiming
   * is passed over, not waited for) and their lease set; a row whose lease another process
   * renewed meanwhile fails the re-checked condition and is left out.
   */
  async claimOutbox(limit: number, now: number, leaseMs: number): Promise<OutboxItem[]> {
    const { rows } = await this.pool.query<MessageDbRow & { ob_thread: string; ob_message: string; attempts: number; enqueued_at: number }>(
      `WITH due AS (
         SELECT thread_id, message_id FROM at_outbox
         WHERE next_attempt_at <= $1 AND claimed_until <= $1
         ORDER BY enqueued_at, id LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE at_outbox o SET claimed_until = $3 FROM due
         WHERE o.thread_id = due.thread_id AND o.message_id = due.message_id
         RETURNING o.thread_id, o.message_id, o.attempts, o.enqueued_at, o.id
       )
       SELECT c.thread_id AS ob_thread, c.message_id AS ob_message, c.attempts, c.enqueued_at AS enqueued_at,
         m.thread_id, m.seq, m.id, m.author_id, m.text, m.client_sent_at, m.reply_to, m.sent_at, m.state, m.at_uri, m.at_cid, m.error
       FROM claimed c LEFT JOIN messages m ON m.thread_id = c.thread_id AND m.id = c.message_id
       ORDER BY c.enqueued_at, c.id`,
      [now, limit, now + leaseMs],
    );
    // A row whose message is gone can never be mirrored: drop it (it is claimed by us).
    const orphans = rows.filter((r) => r.id === null);
    if (orphans.length) {
      await this.pool.query(
        'DELETE FROM at_outbox WHERE (thread_id, message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
        [orphans.map((r) => r.ob_thread), orphans.map((r) => r.ob_message)],
      );
    }
    return rows.filter((r) => r.id !== null).map((r) => ({ message: toMessage(r), attempts: r.attempts, enqueuedAt: r.enqueued_at }));
  }

  async completeOutbox(writes: ConfirmedWrite[]): Promise<StoredMessage[]> {
    if (writes.length === 0) return [];
    const w = sortedKeys(writes);
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<MessageDbRow>(
        `WITH w AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS w(thread_id, message_id, at_uri, at_cid)),
         del AS (DELETE FROM at_outbox o USING w WHERE o.thread_id = w.thread_id AND o.message_id = w.message_id)
         UPDATE messages m SET state = 'confirmed', at_uri = w.at_uri, at_cid = w.at_cid, error = NULL
         FROM w WHERE m.thread_id = w.thread_id AND m.id = w.message_id
         RETURNING ${MESSAGE_COLS.split(', ').map((c) => `m.${c}`).join(', ')}`,
        [w.map((x) => x.threadId), w.map((x) => x.messageId), w.map((x) => x.atUri), w.map((x) => x.atCid)],
      );
      return orderAs(writes, rows.map(toMessage));
    });
  }

  async deferOutbox(keys: MessageKey[], nextAttemptAt: number, countAttempt: boolean): Promise<void> {
    if (keys.length === 0) return;
    const k = sortedKeys(keys);
    await this.pool.query(
      `UPDATE at_outbox SET claimed_until = 0, next_attempt_at = $3, attempts = attempts + $4
       WHERE (thread_id, message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [k.map((x) => x.threadId), k.map((x) => x.messageId), nextAttemptAt, countAttempt ? 1 : 0],
    );
  }

  async failOutbox(failures: PermanentFailure[], failureClass: string, now: number, ttlMs: number): Promise<StoredMessage[]> {
    if (failures.length === 0) return [];
    const f = sortedKeys(failures);
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<MessageDbRow>(
        `WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS f(thread_id, message_id, code, detail, i)),
         del AS (DELETE FROM at_outbox o USING f WHERE o.thread_id = f.thread_id AND o.message_id = f.message_id),
         diag AS (
           INSERT INTO at_diagnostics (thread_id, message_id, code, failure_class, detail, at, expires_at)
           SELECT thread_id, message_id, code, $5::text, detail, $6::bigint, $7::bigint FROM f ORDER BY i
         )
         UPDATE messages m SET state = 'failed', error = f.code
         FROM f WHERE m.thread_id = f.thread_id AND m.id = f.message_id AND m.state = 'sent'
         RETURNING ${MESSAGE_COLS.split(', ').map((c) => `m.${c}`).join(', ')}`,
        [f.map((x) => x.threadId), f.map((x) => x.messageId), f.map((x) => x.code), f.map((x) => x.detail), failureClass, now, now + ttlMs],
      );
      // Like SQLite, every known message is returned, whether or not it was still `sent`.
      const changed = new Set(rows.map((r) => `${r.thread_id}\0${r.id}`));
      const rest = f.filter((x) => !changed.has(`${x.threadId}\0${x.messageId}`));
      const others = rest.length
        ? (
            await c.query<MessageDbRow>(
              `SELECT ${MESSAGE_COLS} FROM messages WHERE (thread_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
              [rest.map((x) => x.threadId), rest.map((x) => x.messageId)],
            )
          ).rows
        : [];
      return orderAs(failures, [...rows, ...others].map(toMessage));
    });
  }

  async requeueMessage(threadId: string, messageId: string, now: number): Promise<StoredMessage | null> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<MessageDbRow>(
        `UPDATE messages m SET state = 'sent', error = NULL
         WHERE m.thread_id = $1 AND m.id = $2 AND m.state = 'failed' AND EXISTS (SELECT 1 FROM threads t WHERE t.id = $1 AND t.mirror)
         RETURNING ${MESSAGE_COLS}`,
        [threadId, messageId],
      );
      if (!rows[0]) return null;
      await c.query('INSERT INTO at_outbox (thread_id, message_id, enqueued_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [threadId, messageId, now]);
      return toMessage(rows[0]);
    });
  }

  async outboxStats(): Promise<OutboxStats> {
    const { rows } = await this.pool.query<{ n: number; oldest: number | null }>('SELECT count(*) AS n, min(enqueued_at) AS oldest FROM at_outbox');
    return { depth: rows[0]!.n, oldestEnqueuedAt: rows[0]!.oldest };
  }

  async listDiagnostics(threadId: string, messageId: string, now: number): Promise<BridgeDiagnostic[]> {
    const { rows } = await this.pool.query<{ code: string; failure_class: string; detail: string; at: number; expires_at: number }>(
      `SELECT code, failure_class, detail, at, expires_at FROM at_diagnostics
       WHERE thread_id = $1 AND message_id = $2 AND expires_at > $3 ORDER BY id DESC`,
      [threadId, messageId, now],
    );
    return rows.map((r) => ({ code: r.code, failureClass: r.failure_class, detail: r.detail, at: r.at, expiresAt: r.expires_at }));
  }

  async pruneDiagnostics(now: number): Promise<number> {
    return (await this.pool.query('DELETE FROM at_diagnostics WHERE expires_at <= $1', [now])).rowCount ?? 0;
  }
}
