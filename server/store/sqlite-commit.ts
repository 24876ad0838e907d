/**
 * The SQLite store's commit path: the generation guard and seq assignment, both run inside
 * the caller's transaction (a group commit's savepoint).
 */
import { assignSequence } from './sequencer.ts';
import type { ThreadDbRow } from './sqlite-schema.ts';
import type { SqliteQueries } from './sqlite-queries.ts';
import { GenerationSealedError, type MessageCandidate, type StoredMessage } from './store.ts';

/** Inside the write's transaction: the thread must still be at `generation`. */
export function checkGeneration(q: SqliteQueries, threadId: string, generation: number): ThreadDbRow {
  const t = q.thread.get(threadId);
  if (!t) throw new Error(`unknown thread ${threadId}`);
  if (t.generation !== generation) throw new GenerationSealedError(threadId, generation, t.generation);
  return t;
}

/**
 * Assigns seqs to the new candidates and writes their rows (inside the caller's transaction).
 * `row`: the thread's row read in this transaction already (checkGeneration), not read again.
 */
export function sequenceMessages(q: SqliteQueries, threadId: string, candidates: MessageCandidate[], now: number, row?: ThreadDbRow): StoredMessage[] {
  if (candidates.length === 0) return [];
  const t = row ?? q.thread.get(threadId);
  if (!t) throw new Error(`unknown thread ${threadId}`);
  const { messages, cursor } = assignSequence(
    threadId,
    { lastSeq: t.last_seq, lastSentAt: t.last_sent_at },
    candidates,
    (id) => q.messageExists.get(threadId, id) !== undefined,
    now,
  );
  const insert = q.insertMessage;
  for (const m of messages) {
    insert.run(threadId, m.seq, m.id, m.authorId, m.text, m.clientSentAt, m.replyTo ?? null, m.sentAt, m.state, m.error ?? null, m.atUri ?? null, m.atCid ?? null);
  }
  q.setCursor.run(cursor.lastSeq, cursor.lastSentAt, threadId);
  // The outbox row shares the transaction that assigns seq: nothing to mirror is lost.
  if (t.mirror === 1) {
    for (const m of messages) if (m.state === 'sent') q.enqueue.run(threadId, m.id, now);
  }
  return messages;
}
