/**
 * What the SQLite commit path needs of a thread — generation, mirror flag, and the seq cursor —
 * held in memory so a commit reads no `threads` row and writes none.
 *
 * Exact because this process is the file's only writer (server/ops/data-dir-lock.ts) and
 * every write that changes these values goes through the store: the cursor is not stored
 * on its own but is the thread's last message row (the messages key is (thread_id, seq),
 * and sentAt never decreases along seq), so after a crash, or whenever an entry is missing,
 * it is read back from the rows the same transactions wrote. An entry is dropped whenever
 * the transaction that changed it may not have committed, and read again on next use.
 */
import type { SqliteQueries } from './sqlite-queries.ts';

/** A thread as the commit path sees it. Mutated in place by the commit that advances it. */
export interface ThreadState {
  generation: number;
  mirror: boolean;
  lastSeq: number;
  lastSentAt: number;
}

/** Threads held at most; the oldest entries go first (re-read from the file on next use). */
const MAX_HELD = 10_000;

export class ThreadStates {
  private readonly held = new Map<string, ThreadState>();

  constructor(private readonly q: SqliteQueries) {}

  /** The thread's state, read from the file when not held (call inside the write's transaction). */
  get(threadId: string): ThreadState {
    const held = this.held.get(threadId);
    if (held) return held;
    const t = this.q.threadHead.get(threadId);
    if (!t) throw new Error(`unknown thread ${threadId}`);
    const last = this.q.lastMessage.get(threadId);
    const state = { generation: t.generation, mirror: t.mirror === 1, lastSeq: last?.seq ?? 0, lastSentAt: last?.sent_at ?? 0 };
    if (this.held.size >= MAX_HELD) this.held.delete(this.held.keys().next().value!);
    this.held.set(threadId, state);
    return state;
  }

  /** The thread's last seq, without holding it (reads outside commits). */
  lastSeq(threadId: string): number {
    return this.held.get(threadId)?.lastSeq ?? this.q.lastMessage.get(threadId)?.seq ?? 0;
  }

  /** The thread's entry may be stale (its savepoint rolled back, or it was rolled): read it again. */
  forget(threadId: string): void {
    this.held.delete(threadId);
  }

  /** A transaction failed as a whole: no entry can be trusted. */
  clear(): void {
    this.held.clear();
  }
}
