/**
 * The AT outbox part of the Store contract, run against SqliteStore on a real file and
 * PostgresStore on a schema of its own. `outboxContract` takes a store factory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MessageCandidate, Store } from '../../server/store/store.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';

const cand = (id: string, state: MessageCandidate['state'] = 'sent'): MessageCandidate => ({
  record: { id, authorId: 'alice', text: `text ${id}`, clientSentAt: 1 },
  state,
  ...(state === 'rejected' ? { error: 'THREAD_ARCHIVED' } : {}),
});
const upd = new Uint8Array([0, 0]);

export function outboxContract(name: string, open: () => Promise<Store>) {
  describe(`${name}: AT outbox`, () => {
    it('writes outbox rows with the commit, only for sent messages of mirrored threads', async () => {
      const s = await open();
      await s.createThread({ id: 'M', title: '', participants: ['alice'], mirror: true, createdAt: 1 });
      await s.createThread({ id: 'P', title: '', participants: ['alice'], mirror: false, createdAt: 1 });
      await s.commitMessages('M', [upd], [cand('a'), cand('b'), cand('r', 'rejected')], 1000);
      await s.commitMessages('M', [upd], [cand('a')], 1001); // replay: no new row
      await s.commitMessages('P', [upd], [cand('p')], 1000);
      expect(await s.outboxStats()).toEqual({ depth: 2, oldestEnqueuedAt: 1000 });
      const claimed = await s.claimOutbox(10, 2000, 5000);
      expect(claimed.map((i) => [i.message.threadId, i.message.id, i.message.seq, i.attempts])).toEqual([
        ['M', 'a', 1, 0],
        ['M', 'b', 2, 0],
      ]);
      // Claimed rows are not handed out twice until the lease runs out.
      expect(await s.claimOutbox(10, 2001, 5000)).toHaveLength(0);
      expect((await s.claimOutbox(10, 7001, 5000)).map((i) => i.message.id)).toEqual(['a', 'b']);
      await s.close();
    });

    it('completes, defers with attempts, fails with expiring diagnostics, and requeues only failed messages', async () => {
      const s = await open();
      await s.createThread({ id: 'T', title: '', participants: ['alice'], mirror: true, createdAt: 1 });
      await s.commitMessages('T', [upd], [cand('x'), cand('y'), cand('z')], 1000);
      await s.claimOutbox(10, 1000, 60_000);
      const done = await s.completeOutbox([{ threadId: 'T', messageId: 'x', atUri: 'at://did:plc:a/c/x', atCid: 'bafyx' }]);
      expect(done[0]).toMatchObject({ id: 'x', state: 'confirmed', atUri: 'at://did:plc:a/c/x', atCid: 'bafyx' });

      await s.deferOutbox([{ threadId: 'T', messageId: 'y' }], 5000, true);
      expect(await s.claimOutbox(10, 4999, 60_000)).toHaveLength(0); // z is still claimed, y not due
      const again = await s.claimOutbox(10, 5000, 60_000);
      expect(again.map((i) => [i.message.id, i.attempts])).toEqual([['y', 1]]);

      const failed = await s.failOutbox([{ threadId: 'T', messageId: 'z', code: 'AT_BAD_REQUEST', detail: '400 InvalidRequest' }], 'invalid', 6000, 1000);
      expect(failed[0]).toMatchObject({ id: 'z', state: 'failed', error: 'AT_BAD_REQUEST' });
      expect(await s.listDiagnostics('T', 'z', 6500)).toEqual([
        { code: 'AT_BAD_REQUEST', failureClass: 'invalid', detail: '400 InvalidRequest', at: 6000, expiresAt: 7000 },
      ]);
      expect(await s.listDiagnostics('T', 'z', 7000)).toEqual([]);
      expect(await s.pruneDiagnostics(7000)).toBe(1);
      expect(await s.outboxStats()).toEqual({ depth: 1, oldestEnqueuedAt: 1000 }); // only y

      expect(await s.requeueMessage('T', 'x', 8000)).toBeNull(); // confirmed, not failed
      const re = await s.requeueMessage('T', 'z', 8000);
      expect(re).toMatchObject({ id: 'z', state: 'sent' });
      expect(re!.error).toBeUndefined();
      expect(await s.requeueMessage('T', 'z', 8000)).toBeNull(); // already requeued
      expect((await s.outboxStats()).depth).toBe(2);
      expect((await s.getMessage('T', 'z'))!.state).toBe('sent');
      await s.close();
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'skein-outbox-'));
let n = 0;
outboxContract('SqliteStore', async () => new SqliteStore(join(dir, `db${++n}.sqlite`), { synchronous: 'NORMAL' }));
const pg = postgresSchemas();
outboxContract('PostgresStore', () => pg.openStore());

/**
 * A claim held by a process that died: on every backend it is claimable again once its
 * lease has run out (the contract). SQLite, with one process per file, also releases it
 * at open; PostgreSQL must not, since other live processes share the database.
 */
describe.each([
  ['SqliteStore', () => { const file = join(dir, `crash${++n}.sqlite`); return () => Promise.resolve<Store>(new SqliteStore(file)); }],
  ['PostgresStore', () => { const schema = pg.freshSchema(); return (): Promise<Store> => pg.openStore(schema); }],
] as const)('%s: claims after a crash', (name, database) => {
  it('a claim of a closed store is claimable again when its lease runs out', async () => {
    const reopen = database();
    const s1 = await reopen();
    await s1.createThread({ id: 'T', title: '', participants: ['alice'], mirror: true, createdAt: 1 });
    await s1.commitMessages('T', [upd], [cand('a')], 1000);
    expect(await s1.claimOutbox(10, 1000, 60_000)).toHaveLength(1);
    await s1.close(); // as if the process died holding the claim
    const s2 = await reopen();
    expect((await s2.claimOutbox(10, 61_000, 60_000)).map((i) => i.message.id)).toEqual(['a']);
    await s2.close();
  });

  it(name === 'SqliteStore' ? 'releases claims of a previous process at open' : 'keeps claims of other processes at open', async () => {
    const reopen = database();
    const s1 = await reopen();
    await s1.createThread({ id: 'T', title: '', participants: ['alice'], mirror: true, createdAt: 1 });
    await s1.commitMessages('T', [upd], [cand('a')], 1000);
    expect(await s1.claimOutbox(10, 1000, 3_600_000)).toHaveLength(1);
    const s2 = await reopen();
    expect((await s2.claimOutbox(10, 1001, 60_000)).map((i) => i.message.id)).toEqual(name === 'SqliteStore' ? ['a'] : []);
    await s1.close();
    await s2.close();
  });
});
