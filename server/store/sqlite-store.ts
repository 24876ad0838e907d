/**
 * SQLite storage (better-sqlite3, WAL): the embedded default, one file under the data dir.
 * Calls are synchronous underneath; the async interface is for parity with PostgreSQL.
 * The schema, statements, group commit, commit path and outbox are modules of their own;
 * this class composes them.
 */
import type Database from 'better-sqlite3';
import { SqliteIngestStore } from '../at/ingest/sqlite-ingest-store.ts';
import { liveDocName } from '../../shared/generation.ts';
import { bytes } from './blobs.ts';
import { mergeLogRows } from './redaction-merge.ts';
import { type MessageDbRow, toMessage } from './message-row.ts';
import { checkGeneration, sequenceMessages } from './sqlite-commit.ts';
import { durableCalls, durableView, WalDurability } from './sqlite-durability.ts';
import { GroupCommit } from './sqlite-group-commit.ts';
import { ThreadStates } from './sqlite-thread-state.ts';
import { SqliteOutbox } from './sqlite-outbox.ts';
import { type SqliteQueries, prepareQueries } from './sqlite-queries.ts';
import { type ThreadDbRow, openSqlite } from './sqlite-schema.ts';
import {
  type CommitOptions,
  delegateOutbox,
  type FoldedReceipt,
  OUTBOX_METHODS,
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

export interface SqliteStoreOptions {
  /**
   * `FULL`: every commit is on disk before its promise resolves (survives power loss), by an
   * fdatasync of the WAL off the event loop (sqlite-durability.ts; SQLite's own sync on the
   * loop if the WAL cannot be opened). `NORMAL` survives process crashes.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** Test hook (SKEIN_TEST_SYNC_GATE): while this file exists, no fdatasync starts. */
  testSyncGate?: string;
  /**
   * How long a group commit waits for more work before it runs, ms, and (FULL) the least
   * time between two fdatasyncs. 0 (default): work of the same event-loop turn shares one
   * transaction, and each fdatasync starts as soon as the previous one is done. A few ms
   * trade that much latency for fewer transactions and fsyncs on a busy relay.
   */
  commitWindowMs?: number;
}

/** The outbox methods (claimOutbox … pruneDiagnostics) are SqliteOutbox's, bound at construction (delegateOutbox). */
export interface SqliteStore extends OutboxStore {}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly q: SqliteQueries;
  private readonly states: ThreadStates;
  private readonly group: GroupCommit;
  private readonly durability: WalDurability | null;
  readonly ingest: SqliteIngestStore;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    const sync = opts.synchronous ?? 'FULL';
    this.db = openSqlite(file, sync);
    // A SQLite file has exactly one relay process, so claims left by a previous (crashed)
    // process can be released at once instead of waiting out their lease.
    this.db.exec('UPDATE at_outbox SET claimed_until = 0');
    const ingest = new SqliteIngestStore(this.db);
    this.q = prepareQueries(this.db);
    this.states = new ThreadStates(this.q);
    // FULL: SQLite commits without syncing, and each commit is made durable by an fdatasync
    // of the WAL in the thread pool before anything depending on it is handed out.
    this.durability = sync === 'FULL' ? WalDurability.open(file, { gate: opts.testSyncGate, minIntervalMs: opts.commitWindowMs ?? 0 }) : null;
    if (this.durability) this.db.pragma('synchronous = NORMAL');
    this.group = new GroupCommit(this.db, opts.commitWindowMs ?? 0, this.durability, () => this.states.clear());
    delegateOutbox(this, new SqliteOutbox(this.db, this.q));
    const total = this.db.prepare<[], number>('SELECT total_changes()').pluck();
    const changes = () => total.get()!;
    if (this.durability) {
      durableCalls(this, DIRECT_CALLS, this.durability, changes);
    }
    this.ingest = this.durability ? durableView(ingest, ['lease'], this.durability, changes) : ingest;
  }

  /** Whether commits are made durable off the event loop (false: SQLite's own sync, or NORMAL). */
  get syncsOffLoop(): boolean {
    return this.durability !== null;
  }

  private row(r: ThreadDbRow): ThreadRow {
    const members = this.q.members.all(r.id);
    return {
      id: r.id,
      title: r.title,
      participants: members.map((m) => m.user_id),
      owner: r.owner ?? members[0]?.user_id ?? null,
      moderators: members.filter((m) => m.moderator === 1).map((m) => m.user_id),
      mirror: r.mirror === 1,
      archived: r.archived === 1,
      createdAt: r.created_at,
      lastSeq: this.states.lastSeq(r.id),
      remotes: this.q.remotes.all(r.id).map((x) => x.did),
      atUri: r.at_uri,
      generation: r.generation,
      baseSeq: r.base_seq,
      liveDoc: liveDocName(r.id, r.generation),
    };
  }

  async createThread(t: NewThread): Promise<ThreadRow> {
    this.db.transaction(() => {
      this.q.insertThread.run({ id: t.id, title: t.title, mirror: t.mirror ? 1 : 0, createdAt: t.createdAt, atUri: t.atUri ?? null, owner: t.owner ?? null });
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
      const row = this.row(r);
      const last = row.lastSeq > 0 ? this.q.lastShown.get(r.id) : undefined;
      return {
        ...row,
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

  async setMember(threadId: string, userId: string, present: boolean): Promise<ThreadRow | null> {
    if (!this.q.thread.get(threadId)) return null;
    this.db.transaction(() => {
      if (present) {
        this.q.insertMember.run(threadId, userId);
        this.q.dropFormerMember.run(threadId, userId);
      } else if (this.q.removeMember.run(threadId, userId).changes > 0) {
        this.q.addFormerMember.run(threadId, userId);
      }
    })();
    return this.getThread(threadId);
  }

  async setModerators(threadId: string, moderators: string[]): Promise<ThreadRow | null> {
    if (!this.q.thread.get(threadId)) return null;
    this.db.transaction(() => {
      this.q.clearModerators.run(threadId);
      for (const u of moderators) this.q.setModerator.run(threadId, u);
    })();
    return this.getThread(threadId);
  }

  async unarchiveThread(id: string): Promise<ThreadRow | null> {
    this.q.unarchive.run(id);
    return this.getThread(id);
  }

  async loadUpdates(threadId: string): Promise<UpdateLog> {
    return { updates: this.q.updates.all(threadId).map((r) => bytes(r.data)) };
  }

  appendUpdate(threadId: string, update: Uint8Array, generation?: number): Promise<void> {
    return this.group.run(() => {
      if (generation !== undefined) checkGeneration(this.states, threadId, generation);
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
    return this.group.run(() => {
      const thread = opts.generation !== undefined ? checkGeneration(this.states, threadId, opts.generation) : undefined;
      try {
        // No candidates, no generation: the updates alone, no thread state needed (as before).
        const messages = candidates.length ? sequenceMessages(this.q, thread ?? this.states.get(threadId), threadId, candidates, now) : [];
        // The relay's canon for these seqs joins the batch's updates: one row, this transaction.
        const row = opts.relayRow?.(messages);
        if (row) this.q.appendUpdate.run(threadId, row.merged);
        else for (const u of updates) this.q.appendUpdate.run(threadId, u);
        return messages;
      } catch (err) {
        // The savepoint rolls back: the cursor may have advanced past it.
        this.states.forget(threadId);
        throw err;
      }
    });
  }

  async compact(threadId: string, snapshot: Uint8Array, generation?: number, holds?: (row: Uint8Array) => boolean, deletions?: boolean): Promise<void> {
    this.db.transaction(() => {
      if (generation !== undefined) checkGeneration(this.states, threadId, generation);
      const rows = this.q.updates.all(threadId).map((r) => bytes(r.data)).filter((r) => !holds?.(r));
      this.q.deleteUpdates.run(threadId);
      this.q.appendUpdate.run(threadId, mergeLogRows(snapshot, rows, deletions));
    })();
  }

  async redactMessages(threadId: string, messageIds: string[], opts: RedactOptions): Promise<void> {
    const ids = JSON.stringify([...new Set(messageIds)]);
    this.db.transaction(() => {
      if (opts.generation !== undefined) checkGeneration(this.states, threadId, opts.generation);
      this.db.prepare("UPDATE messages SET text = '', redacted = 1 WHERE thread_id = ? AND id IN (SELECT value FROM json_each(?))").run(threadId, ids);
      this.db.prepare('DELETE FROM at_outbox WHERE thread_id = ? AND message_id IN (SELECT value FROM json_each(?))').run(threadId, ids);
      this.db
        .prepare("UPDATE records SET value = json_set(value, '$.text', '') WHERE thread_id = ? AND message_id IN (SELECT value FROM json_each(?))")
        .run(threadId, ids);
      // An ingested edit not applied yet holds a text of the message too.
      this.db.prepare('DELETE FROM record_changes WHERE thread_id = ? AND message_id IN (SELECT value FROM json_each(?))').run(threadId, ids);
      const rows = this.q.updates.all(threadId).map((r) => bytes(r.data)).filter((r) => !opts.holds?.(r));
      this.q.deleteUpdates.run(threadId);
      this.q.appendUpdate.run(threadId, mergeLogRows(opts.snapshot, rows));
    })();
    // secure_delete zeroed the freed cells in the pages this commit wrote to the WAL; the
    // WAL's older frames still hold the text until it is checkpointed and truncated.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async reviseMessages(threadId: string, revisions: Array<{ messageId: string; text: string; editedAt: number }>): Promise<void> {
    const q = this.db.prepare(
      'UPDATE messages SET text = ?, edited_at = ? WHERE thread_id = ? AND id = ? AND redacted = 0 AND (edited_at IS NULL OR edited_at <= ?)',
    );
    this.db.transaction(() => {
      for (const r of revisions) q.run(r.text, r.editedAt, threadId, r.messageId, r.editedAt);
    })();
  }

  async listAtEdits(limit: number): Promise<StoredMessage[]> {
    return this.db
      .prepare<[number], MessageDbRow>(
        'SELECT * FROM messages WHERE redacted = 0 AND at_uri IS NOT NULL AND edited_at IS NOT NULL AND (at_edited_at IS NULL OR at_edited_at < edited_at) LIMIT ?',
      )
      .all(limit)
      .map(toMessage);
  }

  async markAtEdited(key: MessageKey, editedAt: number, atCid: string): Promise<void> {
    this.db.prepare('UPDATE messages SET at_edited_at = ?, at_cid = ? WHERE thread_id = ? AND id = ?').run(editedAt, atCid, key.threadId, key.messageId);
  }

  async listAtDeletions(limit: number): Promise<Array<MessageKey & { atUri: string }>> {
    return this.db
      .prepare<[number], { thread_id: string; id: string; at_uri: string }>('SELECT thread_id, id, at_uri FROM messages WHERE redacted = 1 AND at_uri IS NOT NULL LIMIT ?')
      .all(limit)
      .map((r) => ({ threadId: r.thread_id, messageId: r.id, atUri: r.at_uri }));
  }

  async clearAtUri(keys: MessageKey[]): Promise<void> {
    const q = this.db.prepare('UPDATE messages SET at_uri = NULL, at_cid = NULL WHERE thread_id = ? AND id = ? AND redacted = 1');
    this.db.transaction(() => {
      for (const k of keys) q.run(k.threadId, k.messageId);
    })();
  }

  async listMessages(threadId: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.q.messagesAfter.all(threadId, afterSeq, limit).map(toMessage);
  }

  async listMessagesBefore(threadId: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.q.messagesBefore.all(threadId, beforeSeq, limit).map(toMessage);
  }

  rollGeneration(threadId: string, fromGeneration: number, snapshot: Uint8Array, receipts: FoldedReceipt[], sealedState?: Uint8Array): Promise<ThreadRow | null> {
    return this.group.run(() => {
      if (this.q.roll.run(this.states.lastSeq(threadId), threadId, fromGeneration).changes === 0) return null;
      this.states.forget(threadId);
      this.q.deleteUpdates.run(threadId);
      this.q.appendUpdate.run(threadId, snapshot);
      for (const r of receipts) this.q.foldReceipt.run(threadId, r.messageId, r.userId, r.readAt);
      if (sealedState) this.q.putSealedState.run(threadId, fromGeneration, sealedState);
      return this.row(this.q.thread.get(threadId)!);
    });
  }

  async sealedState(threadId: string, generation: number): Promise<Uint8Array | null> {
    const r = this.q.sealedState.get(threadId, generation);
    return r ? new Uint8Array(r.state_vector) : null;
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

  async listAuthored(authorId: string): Promise<ErasedMessage[]> {
    return this.db
      .prepare<[string], { thread_id: string; id: string; at_uri: string | null }>('SELECT thread_id, id, at_uri FROM messages WHERE author_id = ? AND redacted = 0')
      .all(authorId)
      .map((r) => ({ threadId: r.thread_id, messageId: r.id, atUri: r.at_uri }));
  }

  async dropReceipts(userId: string): Promise<void> {
    this.db.prepare('DELETE FROM receipts WHERE user_id = ?').run(userId);
  }

  async listFormerThreads(userId: string): Promise<string[]> {
    return this.q.formerThreads.all(userId).map((r) => r.thread_id);
  }

  async scrub(): Promise<boolean> {
    await this.durability?.settled().catch(() => {});
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.exec('VACUUM');
      const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      return r?.busy === 0;
    } catch {
      return false;
    }
  }

  isOpen(): boolean {
    return this.db.open;
  }

  async close(): Promise<void> {
    // The cursor lives in the message rows now (sqlite-thread-state.ts); a build from before
    // issue 29 reads it from `threads.last_seq`. Written back at a clean stop, so that build,
    // started on this file, continues the seqs instead of failing every commit on the key.
    // Best effort: a store closing after a disk error still closes.
    try {
      this.db
        .prepare(
          `UPDATE threads SET (last_seq, last_sent_at) = (SELECT seq, sent_at FROM messages WHERE thread_id = threads.id ORDER BY seq DESC LIMIT 1)
           WHERE EXISTS (SELECT 1 FROM messages WHERE thread_id = threads.id AND seq > threads.last_seq)`,
        )
        .run();
    } catch {
      // only an older build started on this file would notice
    }
    // Whatever was committed is flushed by SQLite's close (checkpoint) anyway; waiting keeps
    // the last commits' callers from seeing a closed store.
    if (this.durability) {
      await this.durability.settled().catch(() => {});
      await this.durability.close();
    }
    this.db.close();
  }
}

/**
 * The store's own statements outside the group commit, reads and writes: each waits for
 * earlier commits to be durable, and a write for its own (durableCalls).
 */
const DIRECT_CALLS = [
  'createThread', 'getThread', 'getThreadByAtUri', 'setThreadAtUri', 'listThreadsForUser', 'archiveThread',
  'setRemote', 'setMember', 'setModerators', 'unarchiveThread', 'loadUpdates', 'countUpdates', 'compact', 'redactMessages', 'listAtDeletions', 'clearAtUri', 'reviseMessages', 'listAtEdits', 'markAtEdited', 'listMessages', 'listMessagesBefore',
  'listReceipts', 'getMessage', 'getMessages', 'countOthersMessages', 'listAuthored', 'dropReceipts', 'listFormerThreads', ...OUTBOX_METHODS,
] as const;
