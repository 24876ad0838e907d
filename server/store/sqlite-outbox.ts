/**
 * The SQLite store's AT write outbox and failure diagnostics. One relay process owns a
 * SQLite file, so a claim is a plain row update inside a transaction.
 */
import type Database from 'better-sqlite3';
import { toMessage } from './message-row.ts';
import type { SqliteQueries } from './sqlite-queries.ts';
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

export class SqliteOutbox implements OutboxStore {
  constructor(
    private readonly db: Database.Database,
    private readonly q: SqliteQueries,
  ) {}

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
}
