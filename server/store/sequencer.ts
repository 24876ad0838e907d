/**
 * Assigns canonical positions. Pure: storage adapters call it inside the transaction
 * that persists the messages, with the thread's current counters.
 */
import type { MessageCandidate, StoredMessage } from './store.ts';

export interface SequenceCursor {
  lastSeq: number;
  lastSentAt: number;
}

/**
 * Gives each candidate whose id is neither `known` nor repeated in the batch the next
 * seq (gap-free) and a sentAt that never decreases. Returns the rows and new cursor.
 */
export function assignSequence(
  threadId: string,
  cursor: SequenceCursor,
  candidates: MessageCandidate[],
  known: (id: string) => boolean,
  now: number,
): { messages: StoredMessage[]; cursor: SequenceCursor } {
  const seen = new Set<string>();
  const messages: StoredMessage[] = [];
  let { lastSeq, lastSentAt } = cursor;
  const sentAt = Math.max(now, lastSentAt);
  for (const c of candidates) {
    const id = c.record.id;
    if (seen.has(id) || known(id)) continue;
    seen.add(id);
    lastSeq += 1;
    lastSentAt = sentAt;
    messages.push({
      ...c.record,
      threadId,
      seq: lastSeq,
      sentAt,
      state: c.state,
      ...(c.error ? { error: c.error } : {}),
      ...(c.atUri ? { atUri: c.atUri } : {}),
      ...(c.atCid ? { atCid: c.atCid } : {}),
    });
  }
  return { messages, cursor: { lastSeq, lastSentAt } };
}
