/**
 * SQLite storage (better-sqlite3, WAL): the embedded default, one file under the data dir.
 * Calls are synchronous underneath; the async interface is for parity with PostgreSQL.
 */
import * as Y from 'yjs';
import Database from 'better-sqlite3';
import { SqliteIngestStore } from '../ingest/sqlite-ingest-store.ts';
import { liveDocName } from '../../shared/generation.ts';
import { assignSequence } from '../sequencer.ts';
import { type MessageDbRow, toMessage } from './message-row.ts';
import {
  type BridgeDiagnostic,
  type CommitOptions,
  type ConfirmedWrite,
  type FoldedReceipt,
  GenerationSealedError,
  type MessageKey,
  type OutboxItem,
  type OutboxStats,
  type PermanentFailure,
  type MessageCandidate,
  type NewThread,
  type Store,
  type StoredMessage,
  type ThreadRow,
  type ThreadSummary,
  type UpdateLog,
} from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS threads (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  mirror INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  last_sent_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS members (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  user_id TEXT NOT NULL,
  PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id);
CREATE TABLE IF NOT EXISTS thread_remotes (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  did TEXT NOT NULL,
  PRIMARY KEY (thread_id, did)
);
CREATE TABLE IF NOT EXISTS updates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  thread_id TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_thread ON updates(thread_id, id);
CREATE TABLE IF NOT EXISTS messages (
  thread_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  author_id TEXT NOT NULL,
  text TEXT NOT NULL,
  client_sent_at REAL NOT NULL,
  reply_to TEXT,
  sent_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  at_uri TEXT,
  at_cid TEXT,
  error TEXT,
  PRIMARY KEY (thread_id, seq),
  UNIQUE (thread_id, id)
);
CREATE TABLE IF NOT EXISTS receipts (
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  read_at REAL NOT NULL,
  PRIMARY KEY (thread_id, message_id, user_id)
);
CREATE TABLE IF NOT EXISTS at_outbox (
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  claimed_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (thread_id, message_id)
);
CREATE INDEX IF NOT EXISTS at_outbox_due ON at_outbox(next_attempt_at, enqueued_at);
CREATE TABLE IF NOT EXISTS at_diagnostics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  code TEXT NOT NULL,
  failure_class TEXT NOT NULL,
  detail TEXT NOT NULL,
  at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS at_diagnostics_by_message ON at_diagnostics(thread_id, message_id);
CREATE INDEX IF NOT EXISTS at_diagnostics_expiry ON at_diagnostics(expires_at);
`;

interface ThreadDbRow {
  id: string;
  title: string;
  mirror: number;
  archived: number;
  created_at: number;
  last_seq: number;
  last_sent_at: number;
  at_uri: string | null;
  generation: number;
  base_seq: number;
}

/** Additive schema changes for databases created by an earlier version (idempotent). */
function migrate(db: Database.Database): void {
  const cols = new Set((db.pragma('table_info(threads)') as Array<{ name: string }>).map((c) => c.name));
  if (!cols.has('at_uri')) db.exec('ALTER TABLE threads ADD COLUMN at_uri TEXT');
  if (!cols.has('generation')) db.exec('ALTER TABLE threads ADD COLUMN generation INTEGER NOT NULL DEFAULT 0');
  if (!cols.has('base_seq')) db.exec('ALTER TABLE threads ADD COLUMN base_seq INTEGER NOT NULL DEFAULT 0');
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS threads_at_uri ON threads(at_uri) WHERE at_uri IS NOT NULL');
}

export interface SqliteStoreOptions {
  /** `FULL` fsyncs every commit (survives power loss); `NORMAL` survives process crashes. */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * How long a group commit waits for more work before it runs, ms. 0 (default): work of
   * the same event-loop turn shares one transaction. A few ms let the canon update of one
   * batch share the next batch's fsync (latency for fewer fsyncs).
   */
  commitWindowMs?: number;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly q;
  readonly ingest: SqliteIngestStore;
  private group: Array<{ run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  private readonly commitWindowMs: number;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.commitWindowMs = opts.commitWindowMs ?? 0;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    migrate(this.db);
    // A SQLite file has exactly one relay process, so claims left by a previous (crashed)
    // process can be released at once instead of waiting out their lease.
    this.db.exec('UPDATE at_outbox SET claimed_until = 0');
    this.ingest = new SqliteIngestStore(this.db);
    const db = this.db;
    this.q = {
      insertThread: db.prepare(
        'INSERT INTO threads (id, title, mirror, created_at, at_uri) VALUES (@id, @title, @mirror, @createdAt, @atUri)',
      ),
      threadByAtUri: db.prepare<[string], ThreadDbRow>('SELECT * FROM threads WHERE at_uri = ?'),
      setAtUri: db.prepare('UPDATE threads SET at_uri = ? WHERE id = ? AND at_uri IS NULL'),
      insertMember: db.prepare('INSERT OR IGNORE INTO members (thread_id, user_id) VALUES (?, ?)'),
      thread: db.prepare<[string], ThreadDbRow>('SELECT * FROM threads WHERE id = ?'),
      members: db.prepare<[string], { user_id: string }>(
        'SELECT user_id FROM members WHERE thread_id = ? ORDER BY rowid',
      ),
      threadsForUser: db.prepare<[string], ThreadDbRow>(
        `SELECT t.* FROM threads t JOIN members m ON m.thread_id = t.id
         WHERE m.user_id = ? ORDER BY t.created_at DESC, t.id DESC`,
      ),
      remotes: db.prepare<[string], { did: string }>('SELECT did FROM thread_remotes WHERE thread_id = ? ORDER BY rowid'),
      addRemote: db.prepare('INSERT OR IGNORE INTO thread_remotes (thread_id, did) VALUES (?, ?)'),
      removeRemote: db.prepare('DELETE FROM thread_remotes WHERE thread_id = ? AND did = ?'),
      archive: db.prepare('UPDATE threads SET archived = 1 WHERE id = ?'),
      unarchive: db.prepare('UPDATE threads SET archived = 0 WHERE id = ?'),
      updates: db.prepare<[string], { data: Buffer }>('SELECT data FROM updates WHERE thread_id = ? ORDER BY id'),
      countUpdates: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM updates WHERE thread_id = ?'),
      appendUpdate: db.prepare('INSERT INTO updates (thread_id, data) VALUES (?, ?)'),
      deleteUpdates: db.prepare('DELETE FROM updates WHERE thread_id = ?'),
      messageExists: db.prepare<[string, string], { one: number }>(
        'SELECT 1 AS one FROM messages WHERE thread_id = ? AND id = ?',
      ),
      // Positional parameters: binding by name costs a lookup per column per message.
      insertMessage: db.prepare<[string, number, string, string, string, number, string | null, number, string, string | null, string | null, string | null]>(
        `INSERT INTO messages (thread_id, seq, id, author_id, text, client_sent_at, reply_to, sent_at, state, error, at_uri, at_cid)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setCursor: db.prepare('UPDATE threads SET last_seq = ?, last_sent_at = ? WHERE id = ?'),
      messagesAfter: db.prepare<[string, number, number], MessageDbRow>(
        'SELECT * FROM messages WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      // The summary skips rejected messages: they were taken out of the thread.
      lastShown: db.prepare<[string], MessageDbRow>(
        "SELECT * FROM messages WHERE thread_id = ? AND state != 'rejected' ORDER BY seq DESC LIMIT 1",
      ),
      messagesBefore: db.prepare<[string, number, number], MessageDbRow>(
        'SELECT * FROM (SELECT * FROM messages WHERE thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
      ),
      roll: db.prepare('UPDATE threads SET generation = generation + 1, base_seq = last_seq WHERE id = ? AND generation = ?'),
      foldReceipt: db.prepare(
        `INSERT INTO receipts (thread_id, message_id, user_id, read_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (thread_id, message_id, user_id) DO UPDATE SET read_at = max(read_at, excluded.read_at)`,
      ),
      receiptsOf: db.prepare<[string, string], { message_id: string; user_id: string; read_at: number }>(
        'SELECT message_id, user_id, read_at FROM receipts WHERE thread_id = ? AND message_id IN (SELECT value FROM json_each(?))',
      ),
      messageById: db.prepare<[string, string], MessageDbRow>('SELECT * FROM messages WHERE thread_id = ? AND id = ?'),
      messagesByIds: db.prepare<[string, string], MessageDbRow>(
        'SELECT * FROM messages WHERE thread_id = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY seq',
      ),
      countOthers: db.prepare<[string, number, number, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM messages WHERE thread_id = ? AND seq > ? AND seq < ? AND author_id <> ?',
      ),
      enqueue: db.prepare('INSERT OR IGNORE INTO at_outbox (thread_id, message_id, enqueued_at) VALUES (?, ?, ?)'),
      due: db.prepare<[number, number, number], { thread_id: string; message_id: string; attempts: number; enqueued_at: number }>(
        `SELECT thread_id, message_id, attempts, enqueued_at FROM at_outbox
         WHERE next_attempt_at <= ? AND claimed_until <= ? ORDER BY enqueued_at, rowid LIMIT ?`,
      ),
      claim: db.prepare('UPDATE at_outbox SET claimed_until = ? WHERE thread_id = ? AND message_id = ?'),
      dequeue: db.prepare('DELETE FROM at_outbox WHERE thread_id = ? AND message_id = ?'),
      defer: db.prepare(
        'UPDATE at_outbox SET claimed_until = 0, next_attempt_at = ?, attempts = attempts + ? WHERE thread_id = ? AND message_id = ?',
      ),
      confirm: db.prepare(
        `UPDATE messages SET state = 'confirmed', at_uri = ?, at_cid = ?, error = NULL WHERE thread_id = ? AND id = ?`,
      ),
      fail: db.prepare(`UPDATE messages SET state = 'failed', error = ? WHERE thread_id = ? AND id = ? AND state = 'sent'`),
      unfail: db.prepare(`UPDATE messages SET state = 'sent', error = NULL WHERE thread_id = ? AND id = ? AND state = 'failed'`),
      insertDiag: db.prepare(
        `INSERT INTO at_diagnostics (thread_id, message_id, code, failure_class, detail, at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      diags: db.prepare<[string, string, number], { code: string; failure_class: string; detail: string; at: number; expires_at: number }>(
        `SELECT code, failure_class, detail, at, expires_at FROM at_diagnostics
         WHERE thread_id = ? AND message_id = ? AND expires_at > ? ORDER BY id DESC`,
      ),
      pruneDiags: db.prepare('DELETE FROM at_diagnostics WHERE expires_at <= ?'),
      outboxStats: db.prepare<[], { n: number; oldest: number | null }>(
        'SELECT count(*) AS n, min(enqueued_at) AS oldest FROM at_outbox',
      ),
    };
  }

  private row(r: ThreadDbRow): ThreadRow {
    return {
      id: r.id,
      title: r.title,
      participants: this.q.members.all(r.id).map((m) => m.user_id),
      mirror: r.mirror === 1,
      archived: r.archived === 1,
      createdAt: r.created_at,
      lastSeq: r.last_seq,
      remotes: this.q.remotes.all(r.id).map((x) => x.did),
      atUri: r.at_uri,
      generation: r.generation,
      baseSeq: r.base_seq,
      liveDoc: liveDocName(r.id, r.generation),
    };
  }

  async createThread(t: NewThread): Promise<ThreadRow> {
    this.db.transaction(() => {
      this.q.insertThread.run({ id: t.id, title: t.title, mirror: t.mirror ? 1 : 0, createdAt: t.createdAt, atUri: t.atUri ?? null });
      for (const p of t.participants) this.q.insertMember.run(t.id, p);
    })();
    return (await this.getThread(t.id))!;
  }

  async getThread(id: string): Promise<ThreadRow | null> {
    const r = this.q.thread.get(id);
    return r ? this.row(r) : null;
  }

  async getThreadByAtUri(uri: string): Promise<ThreadRow | null> {
    const r = this.q.threadByAtUri.get(uri);
    return r ? this.row(r) : null;
  }

  async setThreadAtUri(id: string, uri: string): Promise<ThreadRow | null> {
    this.q.setAtUri.run(uri, id);
    return this.getThread(id);
  }

  async listThreadsForUser(userId: string): Promise<ThreadSummary[]> {
    return this.q.threadsForUser.all(userId).map((r) => {
      const last = r.last_seq > 0 ? this.q.lastShown.get(r.id) : undefined;
      return {
        ...this.row(r),
        lastMessage: last
          ? { id: last.id, authorId: last.author_id, text: last.text, seq: last.seq, sentAt: last.sent_at }
          : null,
      };
    });
  }

  async archiveThread(id: string): Promise<ThreadRow | null> {
    this.q.archive.run(id);
    return this.getThread(id);
  }

  async setRemote(threadId: string, did: string, present: boolean): Promise<ThreadRow | null> {
    if (!this.q.thread.get(threadId)) return null;
    if (present) this.q.addRemote.run(threadId, did);
    else this.q.removeRemote.run(threadId, did);
    return this.getThread(threadId);
  }

  async unarchiveThread(id: string): Promise<ThreadRow | null> {
    this.q.unarchive.run(id);
    return this.getThread(id);
  }

  async loadUpdates(threadId: string): Promise<UpdateLog> {
    return { updates: this.q.updates.all(threadId).map((r) => new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength)) };
  }

  appendUpdate(threadId: string, update: Uint8Array, generation?: number): Promise<void> {
    return this.grouped(() => {
      if (generation !== undefined) this.checkGeneration(threadId, generation);
      this.q.appendUpdate.run(threadId, update);
    });
  }

  async countUpdates(threadId: string): Promise<number> {
    return this.q.countUpdates.get(threadId)!.n;
  }

  /**
   * Group commit: every commitMessages / appendUpdate call made during one turn shares one
   * SQLite transaction (one fsync), each in its own savepoint so one thread's failure
   * does not undo another's.
   */
  commitMessages(
    threadId: string,
    updates: Uint8Array[],
    candidates: MessageCandidate[],
    now: number,
    opts: CommitOptions = {},
  ): Promise<StoredMessage[]> {
    return this.grouped(() => {
      if (opts.generation !== undefined) this.checkGeneration(threadId, opts.generation);
      const messages = this.sequence(threadId, candidates, now);
      // The relay's canon for these seqs joins the batch's updates: one row, this transaction.
      const row = opts.relayRow?.(messages);
      if (row) this.q.appendUpdate.run(threadId, row.merged);
      else for (const u of updates) this.q.appendUpdate.run(threadId, u);
      return messages;
    });
  }

  /** Inside the write's transaction: the thread must still be at `generation`. */
  private checkGeneration(threadId: string, generation: number): ThreadDbRow {
    const t = this.q.thread.get(threadId);
    if (!t) throw new Error(`unknown thread ${threadId}`);
    if (t.generation !== generation) throw new GenerationSealedError(threadId, generation, t.generation);
    return t;
  }

  /** Runs `work` in this turn's shared transaction, in a savepoint of its own. */
  private grouped<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ run: work, resolve: resolve as (v: unknown) => void, reject });
      if (this.group.length === 1) {
        if (this.commitWindowMs > 0) setTimeout(() => this.commitGroup(), this.commitWindowMs);
        else setImmediate(() => this.commitGroup());
      }
    });
  }

  private commitGroup(): void {
    const group = this.group;
    this.group = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    // Alone in its transaction, a failing item rolls back only itself: no savepoint needed.
    if (group.length === 1) {
      const g = group[0]!;
      try {
        g.resolve(this.db.transaction(g.run)());
      } catch (error) {
        g.reject(error);
      }
      return;
    }
    try {
      this.db.transaction(() => {
        for (const g of group) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(g.run)() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      for (const g of group) g.reject(error);
      return;
    }
    group.forEach((g, i) => {
      const o = outcomes[i]!;
      if (o.ok) g.resolve(o.value);
      else g.reject(o.error);
    });
  }

  /** Assigns seqs to the new candidates and writes their rows (inside the caller's transaction). */
  private sequence(threadId: string, candidates: MessageCandidate[], now: number): StoredMessage[] {
    if (candidates.length === 0) return [];
    const t = this.q.thread.get(threadId);
    if (!t) throw new Error(`unknown thread ${threadId}`);
    const { messages, cursor } = assignSequence(
      threadId,
      { lastSeq: t.last_seq, lastSentAt: t.last_sent_at },
      candidates,
      (id) => this.q.messageExists.get(threadId, id) !== undefined,
      now,
    );
    const q = this.q.insertMessage;
    for (const m of messages) {
      q.run(threadId, m.seq, m.id, m.authorId, m.text, m.clientSentAt, m.replyTo ?? null, m.sentAt, m.state, m.error ?? null, m.atUri ?? null, m.atCid ?? null);
    }
    this.q.setCursor.run(cursor.lastSeq, cursor.lastSentAt, threadId);
    // The outbox row shares the transaction that assigns seq: nothing to mirror is lost.
    if (t.mirror === 1) {
      for (const m of messages) if (m.state === 'sent') this.q.enqueue.run(threadId, m.id, now);
    }
    return messages;
  }

  async compact(threadId: string, snapshot: Uint8Array, generation?: number): Promise<void> {
    this.db.transaction(() => {
      if (generation !== undefined) this.checkGeneration(threadId, generation);
      const rows = this.q.updates.all(threadId).map((r) => new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
      this.q.deleteUpdates.run(threadId);
      this.q.appendUpdate.run(threadId, rows.length ? Y.mergeUpdates([snapshot, ...rows]) : snapshot);
    })();
  }

  async listMessages(threadId: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.q.messagesAfter.all(threadId, afterSeq, limit).map(toMessage);
  }

  async listMessagesBefore(threadId: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.q.messagesBefore.all(threadId, beforeSeq, limit).map(toMessage);
  }

  rollGeneration(threadId: string, fromGeneration: number, snapshot: Uint8Array, receipts: FoldedReceipt[]): Promise<ThreadRow | null> {
    return this.grouped(() => {
      if (this.q.roll.run(threadId, fromGeneration).changes === 0) return null;
      this.q.deleteUpdates.run(threadId);
      this.q.appendUpdate.run(threadId, snapshot);
      for (const r of receipts) this.q.foldReceipt.run(threadId, r.messageId, r.userId, r.readAt);
      return this.row(this.q.thread.get(threadId)!);
    });
  }

  async listReceipts(threadId: string, messageIds: string[]): Promise<FoldedReceipt[]> {
    if (messageIds.length === 0) return [];
    return this.q.receiptsOf
      .all(threadId, JSON.stringify([...new Set(messageIds)]))
      .map((r) => ({ messageId: r.message_id, userId: r.user_id, readAt: r.read_at }));
  }

  async getMessage(threadId: string, messageId: string): Promise<StoredMessage | null> {
    const r = this.q.messageById.get(threadId, messageId);
    return r ? toMessage(r) : null;
  }

  async getMessages(threadId: string, messageIds: string[]): Promise<StoredMessage[]> {
    if (messageIds.length === 0) return [];
    return this.q.messagesByIds.all(threadId, JSON.stringify([...new Set(messageIds)])).map(toMessage);
  }

  async countOthersMessages(threadId: string, afterSeq: number, beforeSeq: number, notAuthor: string): Promise<number> {
    return this.q.countOthers.get(threadId, afterSeq, beforeSeq, notAuthor)?.n ?? 0;
  }

  async claimOutbox(limit: number, now: number, leaseMs: number): Promise<OutboxItem[]> {
    return this.db.transaction(() => {
      const items: OutboxItem[] = [];
      for (const r of this.q.due.all(now, now, limit)) {
        const m = this.q.messageById.get(r.thread_id, r.message_id);
        if (!m) {
          this.q.dequeue.run(r.thread_id, r.message_id);
          continue;
        }
        this.q.claim.run(now + leaseMs, r.thread_id, r.message_id);
        items.push({ message: toMessage(m), attempts: r.attempts, enqueuedAt: r.enqueued_at });
      }
      return items;
    })();
  }

  async completeOutbox(writes: ConfirmedWrite[]): Promise<StoredMessage[]> {
    return this.db.transaction(() => {
      const out: StoredMessage[] = [];
      for (const w of writes) {
        this.q.confirm.run(w.atUri, w.atCid, w.threadId, w.messageId);
        this.q.dequeue.run(w.threadId, w.messageId);
        const m = this.q.messageById.get(w.threadId, w.messageId);
        if (m) out.push(toMessage(m));
      }
      return out;
    })();
  }

  async deferOutbox(keys: MessageKey[], nextAttemptAt: number, countAttempt: boolean): Promise<void> {
    this.db.transaction(() => {
      for (const k of keys) this.q.defer.run(nextAttemptAt, countAttempt ? 1 : 0, k.threadId, k.messageId);
    })();
  }

  async failOutbox(failures: PermanentFailure[], failureClass: string, now: number, ttlMs: number): Promise<StoredMessage[]> {
    return this.db.transaction(() => {
      const out: StoredMessage[] = [];
      for (const f of failures) {
        this.q.fail.run(f.code, f.threadId, f.messageId);
        this.q.dequeue.run(f.threadId, f.messageId);
        this.q.insertDiag.run(f.threadId, f.messageId, f.code, failureClass, f.detail, now, now + ttlMs);
        const m = this.q.messageById.get(f.threadId, f.messageId);
        if (m) out.push(toMessage(m));
      }
      return out;
    })();
  }

  async requeueMessage(threadId: string, messageId: string, now: number): Promise<StoredMessage | null> {
    return this.db.transaction(() => {
      const t = this.q.thread.get(threadId);
      if (!t || t.mirror !== 1) return null;
      if (this.q.unfail.run(threadId, messageId).changes === 0) return null;
      this.q.enqueue.run(threadId, messageId, now);
      return toMessage(this.q.messageById.get(threadId, messageId)!);
    })();
  }

  async outboxStats(): Promise<OutboxStats> {
    const r = this.q.outboxStats.get()!;
    return { depth: r.n, oldestEnqueuedAt: r.oldest };
  }

  async listDiagnostics(threadId: string, messageId: string, now: number): Promise<BridgeDiagnostic[]> {
    return this.q.diags.all(threadId, messageId, now).map((r) => ({
      code: r.code,
      failureClass: r.failure_class,
      detail: r.detail,
      at: r.at,
      expiresAt: r.expires_at,
    }));
  }

  async pruneDiagnostics(now: number): Promise<number> {
    return this.q.pruneDiags.run(now).changes;
  }

  isOpen(): boolean {
    return this.db.open;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
