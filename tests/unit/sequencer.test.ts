import { describe, expect, it } from 'vitest';
import { assignSequence } from '../../server/store/sequencer.ts';
import type { MessageCandidate } from '../../server/store/store.ts';

const cand = (id: string): MessageCandidate => ({
  record: { id, authorId: 'u', text: 'x', clientSentAt: 0 },
  state: 'sent',
});

describe('assignSequence', () => {
  it('assigns gap-free seqs after the cursor and skips known and repeated ids', () => {
    const { messages, cursor } = assignSequence('t', { lastSeq: 7, lastSentAt: 100 }, [cand('a'), cand('b'), cand('a'), cand('k'), cand('c')], (id) => id === 'k', 200);
    expect(messages.map((m) => [m.id, m.seq])).toEqual([['a', 8], ['b', 9], ['c', 10]]);
    expect(cursor).toEqual({ lastSeq: 10, lastSentAt: 200 });
  });
  it('never lets sentAt go backwards when the clock does', () => {
    const { messages, cursor } = assignSequence('t', { lastSeq: 0, lastSentAt: 500 }, [cand('a')], () => false, 100);
    expect(messages[0]!.sentAt).toBe(500);
    expect(cursor.lastSentAt).toBe(500);
  });
  it('leaves the cursor alone when nothing is new', () => {
    const r = assignSequence('t', { lastSeq: 3, lastSentAt: 9 }, [cand('k')], () => true, 100);
    expect(r.messages).toEqual([]);
    expect(r.cursor).toEqual({ lastSeq: 3, lastSentAt: 9 });
  });
});
