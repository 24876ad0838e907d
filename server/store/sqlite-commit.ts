/**
 * The SQLite store's commit path: the generation guard and seq assignment, both run inside
 * the caller's transaction (a group commit's savepoint), against the thread's state held in
 * memory (sqlite-thread-state.ts): no `threads` row is read or written per commit.
 */
import { assignSequence } from './sequencer.ts';
import type { SqliteQueries } from './sqlite-queries.ts';
import type { ThreadState, ThreadStates } from './sqlite-thread-state.ts';
import { GenerationSealedError, type MessageCandidate, type StoredMessage } from './store.ts';

/** Inside the write's transaction: the thread must still be at `generation`. */
export function checkGeneration(states: ThreadStates, threadId: string, generation: number): ThreadState {
  const t = states.get(threadId);
  if (t.generation !== generation) throw new GenerationSealedError(threadId, generation, t.generation);
  return t;
}

/**
 * Assigns seqs to the new candidates and writes their rows (inside the caller's transaction),
 * then advances the held cursor. The caller forgets the thread's state if the transaction
 * does not commit.
 */
export function sequenceMessages(q: SqliteQueries, t: ThreadState, threadId: string, candidates: MessageCandidate[], now: number): StoredMessage[] {
  const { messages, cursor } = assignSequence(threadId, t, candidates, (id) => q.messageExists.get(threadId, id) !== undefined, now);
  const insert = q.insertMessage;
  for (const m of messages) {
    insert.run(threadId, m.seq, m.id, m.authorId, m.text, m.clientSentAt, m.replyTo ?? null, m.sentAt, m.state, m.error ?? null, m.atUri ?? null, m.atCid ?? null);
  }
  // The outbox row shares the transaction that assigns seq: nothing to mirror is lost.
  if (t.mirror) {
    for (const m of messages) if (m.state === 'sent') q.enqueue.run(threadId, m.id, now);
  }
  t.lastSeq = cursor.lastSeq;
  t.lastSentAt = cursor.lastSentAt;
  return messages;
}
