/**
 * The SQLite store's statements, prepared once per database: better-sqlite3 compiles a
 * statement at `prepare`, so the hot paths (commit, outbox claim) only bind and run.
 */
import type Database from 'better-sqlite3';
import type { MessageDbRow } from './message-row.ts';
import type { ThreadDbRow } from './sqlite-schema.ts';

/**
 * The part of a prepared statement the store uses. Declared here because the driver's own
 * Statement type lives in a namespace its typings do not export by name, which the
 * declaration build (`build:lib`) must be able to write out.
 */
export interface Statement<P extends unknown[] = unknown[], R = unknown> {
  run(...params: P): Database.RunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/** Prepares every statement the store runs (the tables must exist: see `openSqlite`). */
export function prepareQueries(db: Database.Database) {
  const prepare = <P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  return {
    insertThread: prepare(
      'INSERT INTO threads (id, title, mirror, created_at, at_uri, owner) VALUES (@id, @title, @mirror, @createdAt, @atUri, @owner)',
    ),
    threadByAtUri: prepare<[string], ThreadDbRow>('SELECT * FROM threads WHERE at_uri = ?'),
    setAtUri: prepare('UPDATE threads SET at_uri = ? WHERE id = ? AND at_uri IS NULL'),
    insertMember: prepare('INSERT OR IGNORE INTO members (thread_id, user_id) VALUES (?, ?)'),
    thread: prepare<[string], ThreadDbRow>('SELECT * FROM threads WHERE id = ?'),
    threadHead: prepare<[string], { generation: number; mirror: number }>('SELECT generation, mirror FROM threads WHERE id = ?'),
    // The seq cursor: the thread's last message row (see sqlite-thread-state.ts).
    lastMessage: prepare<[string], { seq: number; sent_at: number }>(
      'SELECT seq, sent_at FROM messages WHERE thread_id = ? ORDER BY seq DESC LIMIT 1',
    ),
    members: prepare<[string], { user_id: string; moderator: number }>(
      'SELECT user_id, moderator FROM members WHERE thread_id = ? ORDER BY rowid',
    ),
    removeMember: prepare('DELETE FROM members WHERE thread_id = ? AND user_id = ?'),
    addFormerMember: prepare('INSERT OR IGNORE INTO former_members (thread_id, user_id) VALUES (?, ?)'),
    dropFormerMember: prepare('DELETE FROM former_members WHERE thread_id = ? AND user_id = ?'),
    formerThreads: prepare<[string], { thread_id: string }>('SELECT thread_id FROM former_members WHERE user_id = ? ORDER BY thread_id'),
    clearModerators: prepare('UPDATE members SET moderator = 0 WHERE thread_id = ?'),
    setModerator: prepare('UPDATE members SET moderator = 1 WHERE thread_id = ? AND user_id = ?'),
    threadsForUser: prepare<[string], ThreadDbRow>(
      `SELECT t.* FROM threads t JOIN members m ON m.thread_id = t.id
       WHERE m.user_id = ? ORDER BY t.created_at DESC, t.id DESC`,
    ),
    remotes: prepare<[string], { did: string }>('SELECT did FROM thread_remotes WHERE thread_id = ? ORDER BY rowid'),
    addRemote: prepare('INSERT OR IGNORE INTO thread_remotes (thread_id, did) VALUES (?, ?)'),
    removeRemote: prepare('DELETE FROM thread_remotes WHERE thread_id = ? AND did = ?'),
    archive: prepare('UPDATE threads SET archived = 1 WHERE id = ?'),
    unarchive: prepare('UPDATE threads SET archived = 0 WHERE id = ?'),
    updates: prepare<[string], { data: Buffer }>('SELECT data FROM updates WHERE thread_id = ? ORDER BY id'),
    countUpdates: prepare<[string], { n: number }>('SELECT count(*) AS n FROM updates WHERE thread_id = ?'),
    appendUpdate: prepare('INSERT INTO updates (thread_id, data) VALUES (?, ?)'),
    deleteUpdates: prepare('DELETE FROM updates WHERE thread_id = ?'),
    messageExists: prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM messages WHERE thread_id = ? AND id = ?',
    ),
    // Positional parameters: binding by name costs a lookup per column per message.
    insertMessage: prepare<[string, number, string, string, string, number, string | null, number, string, string | null, string | null, string | null]>(
      `INSERT INTO messages (thread_id, seq, id, author_id, text, client_sent_at, reply_to, sent_at, state, error, at_uri, at_cid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    messagesAfter: prepare<[string, number, number], MessageDbRow>(
      'SELECT * FROM messages WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    // The summary skips rejected messages: they were taken out of the thread.
    lastShown: prepare<[string], MessageDbRow>(
      "SELECT * FROM messages WHERE thread_id = ? AND state != 'rejected' ORDER BY seq DESC LIMIT 1",
    ),
    messagesBefore: prepare<[string, number, number], MessageDbRow>(
      'SELECT * FROM (SELECT * FROM messages WHERE thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
    ),
    roll: prepare('UPDATE threads SET generation = generation + 1, base_seq = ? WHERE id = ? AND generation = ?'),
    putSealedState: prepare('INSERT OR REPLACE INTO sealed_states (thread_id, generation, state_vector) VALUES (?, ?, ?)'),
    sealedState: prepare<[string, number], { state_vector: Buffer }>('SELECT state_vector FROM sealed_states WHERE thread_id = ? AND generation = ?'),
    foldReceipt: prepare(
      `INSERT INTO receipts (thread_id, message_id, user_id, read_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (thread_id, message_id, user_id) DO UPDATE SET read_at = max(read_at, excluded.read_at)`,
    ),
    receiptsOf: prepare<[string, string], { message_id: string; user_id: string; read_at: number }>(
      'SELECT message_id, user_id, read_at FROM receipts WHERE thread_id = ? AND message_id IN (SELECT value FROM json_each(?))',
    ),
    messageById: prepare<[string, string], MessageDbRow>('SELECT * FROM messages WHERE thread_id = ? AND id = ?'),
    messagesByIds: prepare<[string, string], MessageDbRow>(
      'SELECT * FROM messages WHERE thread_id = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY seq',
    ),
    countOthers: prepare<[string, number, number, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM messages WHERE thread_id = ? AND seq > ? AND seq < ? AND author_id <> ?',
    ),
    enqueue: prepare('INSERT OR IGNORE INTO at_outbox (thread_id, message_id, enqueued_at) VALUES (?, ?, ?)'),
    due: prepare<[number, number, number], { thread_id: string; message_id: string; attempts: number; enqueued_at: number }>(
      `SELECT thread_id, message_id, attempts, enqueued_at FROM at_outbox
       WHERE next_attempt_at <= ? AND claimed_until <= ? ORDER BY enqueued_at, rowid LIMIT ?`,
    ),
    claim: prepare('UPDATE at_outbox SET claimed_until = ? WHERE thread_id = ? AND message_id = ?'),
    dequeue: prepare('DELETE FROM at_outbox WHERE thread_id = ? AND message_id = ?'),
    defer: prepare(
      'UPDATE at_outbox SET claimed_until = 0, next_attempt_at = ?, attempts = attempts + ? WHERE thread_id = ? AND message_id = ?',
    ),
    confirm: prepare(
      `UPDATE messages SET state = 'confirmed', at_uri = ?, at_cid = ?, error = NULL WHERE thread_id = ? AND id = ?`,
    ),
    fail: prepare(`UPDATE messages SET state = 'failed', error = ? WHERE thread_id = ? AND id = ? AND state = 'sent'`),
    unfail: prepare(`UPDATE messages SET state = 'sent', error = NULL WHERE thread_id = ? AND id = ? AND state = 'failed'`),
    insertDiag: prepare(
      `INSERT INTO at_diagnostics (thread_id, message_id, code, failure_class, detail, at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    diags: prepare<[string, string, number], { code: string; failure_class: string; detail: string; at: number; expires_at: number }>(
      `SELECT code, failure_class, detail, at, expires_at FROM at_diagnostics
       WHERE thread_id = ? AND message_id = ? AND expires_at > ? ORDER BY id DESC`,
    ),
    pruneDiags: prepare('DELETE FROM at_diagnostics WHERE expires_at <= ?'),
    outboxStats: prepare<[], { n: number; oldest: number | null }>(
      'SELECT count(*) AS n, min(enqueued_at) AS oldest FROM at_outbox',
    ),
  };
}

export type SqliteQueries = ReturnType<typeof prepareQueries>;
