/**
 * One conformance suite for every IngestStore implementation (federation sources, sync
 * state, the append-only commit log, ingested records). Add a factory when an adapter lands.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CommitWrite, RecordChange, SourceInput } from '../../server/at/ingest/ingest-store.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { Store } from '../../server/store/store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';

const pg = postgresSchemas();

const stores: Array<[string, () => Promise<Store>]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-ingest-')), 'db.sqlite'))],
  ['postgres', () => pg.openStore()],
];

const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const input = (over: Partial<SourceInput> = {}): SourceInput => ({
  kind: 'PDS',
  name: `src-${Math.random().toString(36).slice(2)}`,
  serviceEndpoint: 'https://pds.example.com',
  isEnabled: true,
  allowIngest: true,
  denyReason: null,
  rateLimitPerMinute: 600,
  metadata: { software: 'pds', version: '0.4' },
  ...over,
});

function commit(sourceId: string, seq: number, rkeys: string[], now = 1000 + seq, status: CommitWrite['entry']['status'] = 'applied'): CommitWrite {
  return {
    entry: {
      sourceId,
      did: DID,
      seq,
      commitCid: `bafy${seq}`,
      rev: `rev${seq}`,
      since: seq > 1 ? `rev${seq - 1}` : null,
      operations: rkeys.map((rkey) => ({ action: 'create', collection: 'dev.skein.chat.message', rkey, cid: `cid-${rkey}`, status })),
      receivedAt: now,
      status,
      reason: null,
    },
    records:
      status === 'applied'
        ? rkeys.map((rkey) => ({
            uri: `at://${DID}/dev.skein.chat.message/${rkey}`,
            cid: `cid-${rkey}`,
            did: DID,
            collection: 'dev.skein.chat.message',
            rkey,
            value: { text: rkey },
            sourceId,
            threadId: 't1',
            messageId: rkey,
            ingestedAt: now,
          }))
        : [],
    cursor: String(seq),
    now,
  };
}

describe.each(stores)('%s ingest store', (_name, make) => {
  const opened: Store[] = [];
  const open = async () => {
    const s = await make();
    opened.push(s);
    return s.ingest;
  };
  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  it('creates, lists, updates and deletes federation sources; names are unique', async () => {
    const s = await open();
    const a = await s.createSource(input({ name: 'a' }), 10);
    expect(a).toMatchObject({ ...input({ name: 'a' }), createdAt: 10, updatedAt: 10 });
    expect(typeof a.id).toBe('string');
    await expect(s.createSource(input({ name: 'a' }), 11)).rejects.toThrow(/unique/i);
    expect((await s.updateSource(a.id, { isEnabled: false, metadata: { notes: 'x' } }, 20))!).toMatchObject({ isEnabled: false, metadata: { notes: 'x' }, createdAt: 10, updatedAt: 20 });
    expect(await s.updateSource('missing', { isEnabled: false }, 20)).toBeNull();
    expect((await s.listSources()).map((x) => x.name)).toEqual(['a']);
    await s.putSyncState(a.id, null, { status: 'active' });
    expect(await s.deleteSource(a.id)).toBe(true);
    expect(await s.deleteSource(a.id)).toBe(false);
    expect(await s.getSource(a.id)).toBeNull();
    expect(await s.listSyncState({ sourceId: a.id })).toEqual([]);
  });

  it('keeps one sync-state row per (source, did), the source-wide row (did null) included', async () => {
    const s = await open();
    const src = await s.createSource(input(), 1);
    await s.putSyncState(src.id, null, { status: 'failing', failureCount: 1 });
    await s.putSyncState(src.id, null, { failureCount: 2, failureReason: 'x' });
    await s.putSyncState(src.id, DID, { status: 'active', lastSeq: 5 });
    await s.putSyncState(src.id, DID, { lastSeq: 6 });
    const rows = await s.listSyncState({ sourceId: src.id });
    expect(rows).toHaveLength(2);
    expect(await s.getSyncState(src.id, null)).toMatchObject({ did: null, status: 'failing', failureCount: 2, failureReason: 'x' });
    expect(await s.getSyncState(src.id, DID)).toMatchObject({ did: DID, status: 'active', lastSeq: 6 });
    expect(await s.listSyncState({ did: DID })).toHaveLength(1);
  });

  it('records a commit atomically: log row, records (first writer wins), cursor and per-did lastSeq', async () => {
    const s = await open();
    const src = await s.createSource(input(), 1);
    await s.recordCommit(commit(src.id, 3, ['m1', 'm2']));
    await s.recordCommit(commit(src.id, 5, ['m3']));
    // An out-of-order commit is logged but never moves lastSeq back.
    await s.recordCommit(commit(src.id, 4, [], 1010, 'out_of_order'));
    const log = await s.listCommits({ sourceId: src.id, limit: 10 });
    expect(log.map((c) => [c.seq, c.status])).toEqual([[3, 'applied'], [4, 'out_of_order'], [5, 'applied']]);
    expect(log[0]!.operations.map((o) => o.rkey)).toEqual(['m1', 'm2']);
    expect(await s.listCommits({ did: DID, afterSeq: 3, limit: 1 })).toHaveLength(1);
    expect((await s.getSyncState(src.id, DID))!.lastSeq).toBe(5);
    expect((await s.getSyncState(src.id, null))!.cursor).toBe('4');

    expect((await s.getRecord(DID, 'dev.skein.chat.message', 'm1'))).toMatchObject({ cid: 'cid-m1', threadId: 't1', appliedAt: null });
    expect((await s.pendingRecords(10)).map((r) => r.rkey)).toEqual(['m1', 'm2', 'm3']);
    await s.markApplied([`at://${DID}/dev.skein.chat.message/m1`], 99);
    expect((await s.pendingRecords(10)).map((r) => r.rkey)).toEqual(['m2', 'm3']);
    expect((await s.getRecord(DID, 'dev.skein.chat.message', 'm1'))!.appliedAt).toBe(99);

    // A record stored twice keeps its first version.
    const again = commit(src.id, 6, ['m1']);
    again.records[0]!.cid = 'other';
    await s.recordCommit(again);
    expect((await s.getRecord(DID, 'dev.skein.chat.message', 'm1'))!.cid).toBe('cid-m1');
  });

  it('stores edits and deletions with their commit; they wait until their record is applied, once per (record, rev), until dropped', async () => {
    const s = await open();
    const src = await s.createSource(input(), 1);
    await s.recordCommit(commit(src.id, 1, ['m1', 'm2']));
    const change = (rkey: string, rev: string, action: 'update' | 'delete', now: number): RecordChange => ({
      did: DID,
      collection: 'dev.skein.chat.message',
      rkey,
      rev,
      action,
      authorId: `carol@${DID}`,
      value: action === 'update' ? { text: `${rkey} edited` } : null,
      threadId: 't1',
      messageId: rkey,
      ingestedAt: now,
    });
    const edit = { ...commit(src.id, 2, []), changes: [change('m1', 'rev2', 'update', 1002)] };
    await s.recordCommit(edit);
    await s.recordCommit({ ...commit(src.id, 3, []), changes: [change('m2', 'rev3', 'delete', 1003)] });
    await s.recordCommit({ ...commit(src.id, 4, []), changes: [change('m1', 'rev2', 'update', 1004)] }); // the same rev again
    expect((await s.getSyncState(src.id, DID))!.lastSeq).toBe(4);
    // Their records are not in their thread yet: nothing to apply.
    expect(await s.pendingChanges(10)).toEqual([]);
    await s.markApplied([`at://${DID}/dev.skein.chat.message/m1`, `at://${DID}/dev.skein.chat.message/m2`], 99);
    const pending = await s.pendingChanges(10);
    expect(pending).toEqual([change('m1', 'rev2', 'update', 1002), change('m2', 'rev3', 'delete', 1003)]);
    await s.dropChanges([pending[0]!]);
    expect((await s.pendingChanges(10)).map((c) => c.rev)).toEqual(['rev3']);
    await s.dropChanges(pending);
    expect(await s.pendingChanges(10)).toEqual([]);
  });

  it('stores backfilled records without a commit: no log row, no cursor, first writer wins, pending in insertion order', async () => {
    const s = await open();
    const src = await s.createSource(input(), 1);
    await s.recordCommit(commit(src.id, 1, ['b2']));
    const rec = (rkey: string) => ({ ...commit('backfill', 0, [rkey], 50).records[0]! });
    // b9 before b1: the order given (the order the messages were sent) is the order applied.
    expect(await s.storeRecords([rec('b9'), rec('b1'), rec('b2')])).toBe(2);
    expect((await s.getRecord(DID, 'dev.skein.chat.message', 'b2'))!.sourceId).toBe(src.id);
    expect((await s.pendingRecords(10)).map((r) => r.rkey)).toEqual(['b9', 'b1', 'b2']);
    expect(await s.listCommits({ limit: 10 })).toHaveLength(1);
    expect((await s.getSyncState(src.id, null))!.cursor).toBe('1');
    expect(await s.storeRecords([])).toBe(0);
  });

  it('prunes the commit log only by retention, and only below a horizon that never moves back', async () => {
    const s = await open();
    const src = await s.createSource(input(), 1);
    await s.recordCommit(commit(src.id, 1, [], 100, 'rejected'));
    await s.recordCommit(commit(src.id, 2, [], 200, 'rejected'));
    await s.recordCommit(commit(src.id, 3, [], 300, 'rejected'));
    expect(await s.pruneCommitLog(250)).toBe(2);
    expect((await s.listCommits({ sourceId: src.id, limit: 10 })).map((c) => c.seq)).toEqual([3]);
    // Pruning with an older horizon deletes nothing and keeps the newer horizon.
    expect(await s.pruneCommitLog(100)).toBe(0);
    expect((await s.listCommits({ sourceId: src.id, limit: 10 })).map((c) => c.seq)).toEqual([3]);
  });
});
