/** Pure parts of the SDK: status derivation, the sync state machine, receipts. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { indexReceipts, unreadCount, writeReceipt } from '../../client/view/receipts.ts';
import { deriveStatus } from '../../client/view/status.ts';
import { type SyncState, initialSyncState, nextSyncState } from '../../client/view/sync-state.ts';
import type { CanonInfo, Receipt } from '../../shared/schema.ts';

describe('status derivation', () => {
  const canon = (state: CanonInfo['state'], extra: Partial<CanonInfo> = {}): CanonInfo => ({ seq: 1, sentAt: 1, state, ...extra });

  it('is pending without canon and sent once the relay has it', () => {
    expect(deriveStatus(undefined, true)).toEqual({ status: 'pending' });
    expect(deriveStatus(canon('sent'), true)).toEqual({ status: 'sent' });
  });
  it('shows AT refs and failures only when AT is shown', () => {
    const c = canon('confirmed', { atUri: 'at://did:plc:x/app.skein.message/1', atCid: 'bafy' });
    expect(deriveStatus(c, true)).toEqual({ status: 'confirmed', atUri: c.atUri, atCid: 'bafy' });
    expect(deriveStatus(c, false)).toEqual({ status: 'sent' });
    expect(deriveStatus(canon('failed', { error: 'AT_INVALID_RECORD' }), true)).toEqual({ status: 'failed', error: 'AT_INVALID_RECORD' });
    expect(deriveStatus(canon('failed', { error: 'X' }), false)).toEqual({ status: 'sent' });
  });
  it('always shows rejections with their code', () => {
    expect(deriveStatus(canon('rejected', { error: 'THREAD_ARCHIVED' }), false)).toEqual({ status: 'rejected', error: 'THREAD_ARCHIVED' });
    expect(deriveStatus(canon('rejected'), true)).toEqual({ status: 'rejected', error: 'REJECTED' });
  });
});

describe('sync state machine', () => {
  const run = (s: SyncState, ...events: Parameters<typeof nextSyncState>[1][]) => {
    const effects: string[] = [];
    for (const e of events) {
      const t = nextSyncState(s, e);
      s = t.state;
      effects.push(...t.effects);
    }
    return { s, effects };
  };

  it('starts UNKNOWN and stays so while the backend seq is unknown', () => {
    const s0 = initialSyncState();
    expect(s0.state).toBe('UNKNOWN');
    const { s, effects } = run(s0, { type: 'validate', seqs: [1, 2], lastKnownBackendSeq: undefined });
    expect(s.state).toBe('UNKNOWN');
    expect(s.reason).toBe('backend_seq_unknown');
    expect(effects).toEqual([]);
  });

  it('is SYNCED for continuous seqs ending at the backend seq', () => {
    expect(run(initialSyncState(), { type: 'validate', seqs: [3, 1, 2], lastKnownBackendSeq: 3 }).s.state).toBe('SYNCED');
    expect(run(initialSyncState(), { type: 'validate', seqs: [], lastKnownBackendSeq: 0 }).s.state).toBe('SYNCED');
  });

  it.each([
    ['gap', [1, 3], 3, 'gap_detected'],
    ['behind', [1, 2], 5, 'sequence_mismatch'],
    ['empty but backend has messages', [], 2, 'no_messages'],
  ] as const)('is OUT_OF_SYNC (%s) and asks for one resync', (_n, seqs, backend, reason) => {
    const { s, effects } = run(initialSyncState(), { type: 'validate', seqs: [...seqs], lastKnownBackendSeq: backend });
    expect(s.state).toBe('OUT_OF_SYNC');
    expect(s.reason).toBe(reason);
    expect(effects).toEqual(['resync']);
  });

  it('does not ask for another resync while one runs; isResyncing only while it runs', () => {
    let { s } = run(initialSyncState(), { type: 'resync_started' });
    expect(s.isResyncing).toBe(true);
    const t = nextSyncState(s, { type: 'validate', seqs: [1], lastKnownBackendSeq: 4 });
    expect(t.state.state).toBe('OUT_OF_SYNC');
    expect(t.effects).toEqual([]);
    s = nextSyncState(t.state, { type: 'resync_finished' }).state;
    expect(s.isResyncing).toBe(false);
    expect(nextSyncState(s, { type: 'validate', seqs: [1, 2, 3, 4], lastKnownBackendSeq: 4 }).state.state).toBe('SYNCED');
  });

  it('offline→online marks the thread UNKNOWN and asks to revalidate; first connect does not', () => {
    const first = run(initialSyncState(), { type: 'connection', connection: 'connecting' }, { type: 'connection', connection: 'online' });
    expect(first.effects).toEqual([]);
    const synced = run(first.s, { type: 'validate', seqs: [1], lastKnownBackendSeq: 1 }).s;
    expect(synced.state).toBe('SYNCED');
    const { s, effects } = run(
      synced,
      { type: 'connection', connection: 'offline' },
      { type: 'connection', connection: 'connecting' },
      { type: 'connection', connection: 'online' },
    );
    expect(s.state).toBe('UNKNOWN');
    expect(s.reason).toBe('reconnected');
    expect(s.connection).toBe('online');
    expect(effects).toEqual(['revalidate']);
  });

  it('reset (another thread reconnected) makes a synced thread UNKNOWN without effects', () => {
    const synced = run(initialSyncState(), { type: 'validate', seqs: [1], lastKnownBackendSeq: 1 }).s;
    const { s, effects } = run(synced, { type: 'reset' });
    expect(s.state).toBe('UNKNOWN');
    expect(effects).toEqual([]);
  });

  it('records the time of the last completed sync', () => {
    const { s, effects } = run(initialSyncState(), { type: 'synced_with_relay', at: 1234 });
    expect(s.lastSyncedAt).toBe(1234);
    expect(effects).toEqual(['revalidate']);
  });
});

describe('receipts', () => {
  it('never move backwards and give read positions and unread counts', () => {
    const doc = new Y.Doc();
    const receipts = doc.getMap<Receipt>('receipts');
    expect(writeReceipt(receipts, 'm2', 'bob', 200)).toBe(true);
    expect(writeReceipt(receipts, 'm2', 'bob', 100)).toBe(false);
    expect(receipts.get('m2|bob')).toEqual({ readAt: 200 });
    writeReceipt(receipts, 'm1', 'carol', 50);
    const seqs: Record<string, number> = { m1: 1, m2: 2, m3: 3 };
    const idx = indexReceipts(receipts.entries(), (id) => seqs[id]);
    expect(idx.readUpTo.get('bob')).toBe(2);
    expect(idx.readUpTo.get('carol')).toBe(1);
    expect(idx.readers.get('m2')).toEqual([{ userId: 'bob', readAt: 200 }]);
    const canonical = [
      { authorId: 'alice', seq: 1 },
      { authorId: 'bob', seq: 2 },
      { authorId: 'alice', seq: 3 },
    ];
    expect(unreadCount(canonical, 'bob', 2)).toBe(1);
    expect(unreadCount(canonical, 'carol', 1)).toBe(2);
    expect(unreadCount(canonical, 'alice', 0)).toBe(1);
  });
});
