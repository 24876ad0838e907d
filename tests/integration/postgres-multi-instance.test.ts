/**
 * Several relay processes on one PostgreSQL database (issue #13): two PostgresStore
 * instances with separate pools stand in for two processes. Seqs stay gap-free and unique
 * under concurrent commits to one thread, outbox claims never overlap, and migrations
 * started at the same moment apply once.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../server/store/postgres-store.ts';
import { SCHEMA_VERSION } from '../../server/store/postgres-schema.ts';
import { GenerationSealedError, type MessageCandidate } from '../../server/store/store.ts';
import { eventually } from '../helpers/eventually.ts';
import * as Y from 'yjs';
import { editKey, removeRedacted } from '../../shared/message-lifecycle.ts';
import { threadRoots } from '../../shared/schema.ts';
import { coveredSnapshot } from '../../server/store/snapshot-coverage.ts';
import { PG_URL, postgresSchemas } from '../helpers/postgres.ts';

const pgs = postgresSchemas();
const cand = (id: string): MessageCandidate => ({ record: { id, authorId: 'alice', text: `text ${id}`, clientSentAt: 1 }, state: 'sent' });
const upd = new Uint8Array([1, 2, 3]);

/** The update one transaction of `doc` produces. */
function updateOf(doc: Y.Doc, change: () => void): Uint8Array {
  let out: Uint8Array | null = null;
  const take = (u: Uint8Array) => (out = out ? Y.mergeUpdates([out, u]) : u);
  doc.on('update', take);
  doc.transact(change);
  doc.off('update', take);
  return out!;
}

describe.each(['counter', 'row-lock'] as const)('two PostgresStore instances on one schema, %s sequencing', (sequencing) => {
  let a: PostgresStore;
  let b: PostgresStore;
  const schema = pgs.freshSchema();
  beforeAll(async () => {
    // Opened at the same moment: the second waits on the migration lock, then finds nothing to do.
    [a, b] = await Promise.all([pgs.openStore(schema, sequencing), pgs.openStore(schema, sequencing)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('applied each migration once', async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await client.end();
    }
  });

  it('commit concurrently to one thread: seqs exactly 1..N, every message once, one outbox row each', async () => {
    await a.createThread({ id: 'hot', title: '', participants: ['alice'], mirror: true, createdAt: 1 });
    const perInstance = 200;
    // Each instance runs 4 writers committing batches of 1-5; every 10th id is also sent by
    // the other instance (a message relayed through both): it must get exactly one seq.
    const writers = [a, b].flatMap((store, s) =>
      [0, 1, 2, 3].map(async (w) => {
        const mine = Array.from({ length: perInstance / 4 }, (_, i) => `m-${s}-${w}-${i}`);
        const shared = Array.from({ length: 5 }, (_, i) => `shared-${w}-${i}`);
        const ids = [...mine];
        shared.forEach((id, i) => ids.splice(i * 10, 0, id));
        let at = 0;
        let now = 1000;
        while (at < ids.length) {
          const size = 1 + ((at + w + s) % 5);
          const batch = ids.slice(at, at + size);
          at += size;
          await store.commitMessages('hot', [upd], batch.map(cand), now++);
        }
      }),
    );
    await Promise.all(writers);
    const expected = 2 * perInstance + 4 * 5;
    const all = await a.listMessages('hot', 0, 10_000);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
    expect(new Set(all.map((m) => m.id)).size).toBe(expected);
    for (let i = 1; i < all.length; i++) expect(all[i]!.sentAt).toBeGreaterThanOrEqual(all[i - 1]!.sentAt);
    expect((await b.getThread('hot'))!.lastSeq).toBe(expected);
    expect((await b.outboxStats()).depth).toBe(expected);
    expect(await a.countUpdates('hot')).toBeGreaterThan(0);
  });

  it('claim the outbox concurrently without ever claiming the same row twice', async () => {
    const total = (await a.outboxStats()).depth;
    const claimedBy = new Map<string, number>();
    let dupes = 0;
    const claimer = (store: PostgresStore, who: number) => async () => {
      for (;;) {
        const items = await store.claimOutbox(7, 5000, 3_600_000);
        if (items.length === 0) return;
        for (const i of items) {
          const key = `${i.message.threadId}/${i.message.id}`;
          if (claimedBy.has(key)) dupes++;
          claimedBy.set(key, who);
        }
      }
    };
    await Promise.all([claimer(a, 0), claimer(a, 0), claimer(b, 1), claimer(b, 1)].map((f) => f()));
    expect(dupes).toBe(0);
    expect(claimedBy.size).toBe(total);
    const byA = [...claimedBy.values()].filter((w) => w === 0).length;
    // Both took part (SKIP LOCKED passes over rows, it does not serialize the claimers).
    expect(byA).toBeGreaterThan(0);
    expect(byA).toBeLessThan(total);
    // Completed by whichever instance claimed them; nothing is left.
    const keys = [...claimedBy.keys()].map((k) => k.split('/') as [string, string]);
    await a.completeOutbox(keys.map(([threadId, messageId]) => ({ threadId, messageId, atUri: `at://x/${messageId}`, atCid: 'c' })));
    expect(await b.outboxStats()).toEqual({ depth: 0, oldestEnqueuedAt: null });
  });

  it('a write queued behind another instance\'s roll is refused, never written into the new generation', async () => {
    // Deterministic interleaving: a third connection holds the thread row, the roll (instance b)
    // queues for it, then the writes of instance a (still at generation 0) queue behind the roll.
    await a.createThread({ id: 'race', title: '', participants: ['alice'], mirror: false, createdAt: 1 });
    await a.commitMessages('race', [upd], [cand('before')], 1000, { generation: 0 });
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      await holder.query(`SET search_path TO ${schema}`);
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const holderPid = rows[0]!.pid;
      // Sessions waiting on the holder, directly or behind another waiter.
      const waiting = async () =>
        (
          await holder.query<{ n: number }>(
            `WITH RECURSIVE w(pid) AS (
               SELECT $1::int UNION SELECT a.pid FROM pg_stat_activity a, w WHERE w.pid = ANY(pg_blocking_pids(a.pid))
             ) SELECT count(*)::int - 1 AS n FROM w`,
            [holderPid],
          )
        ).rows[0]!.n;
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM threads WHERE id = 'race' FOR UPDATE");
      const snapshot = new Uint8Array([9, 9]);
      const roll = b.rollGeneration('race', 0, snapshot, []);
      await eventually(waiting, (n) => n === 1, 'the roll waits');
      const commit = a.commitMessages('race', [new Uint8Array([7])], [cand('late')], 2000, { generation: 0 }).then(() => 'stored', (e: unknown) => e);
      await eventually(waiting, (n) => n === 2, 'the commit waits behind it');
      const append = a.appendUpdate('race', new Uint8Array([8]), 0).then(() => 'stored', (e: unknown) => e);
      await eventually(waiting, (n) => n === 3, 'the append waits too');
      await holder.query('COMMIT');
      expect(await roll).toMatchObject({ generation: 1, baseSeq: 1 });
      for (const outcome of [await commit, await append]) {
        expect(outcome).toBeInstanceOf(GenerationSealedError);
        expect(outcome).toMatchObject({ generation: 0, liveGeneration: 1 });
      }
      expect((await a.loadUpdates('race')).updates).toEqual([snapshot]);
      expect(await a.getMessage('race', 'late')).toBeNull();
      expect((await a.getThread('race'))!.lastSeq).toBe(1);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  });

  it('purging a deleted message: a row another instance wrote that the snapshot lacks, or a compaction from before the purge, keeps none of its text', async () => {
    const id = `purge-${sequencing}`;
    const secret = `SECRET-${sequencing}-${Date.now().toString(36)}`;
    await a.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 1 });
    // Instance B's document: the message, stored by B; instance A's document applied it.
    const docB = new Y.Doc();
    const rootsB = threadRoots(docB);
    const record = { id: 'm1', authorId: 'alice', text: `${secret} original`, clientSentAt: 1 };
    const u1 = updateOf(docB, () => rootsB.messages.push([record]));
    await b.commitMessages(id, [u1], [{ record, state: 'sent' }], 1000);
    const docA = new Y.Doc();
    Y.applyUpdate(docA, u1);
    // B stores an edit of it that has not reached A when A purges (the fan-out is behind).
    await b.appendUpdate(id, updateOf(docB, () => rootsB.edits.set(editKey('m1', '01EDIT'), { text: `${secret} edited`, editedAt: 2 })));
    const rootsA = threadRoots(docA);
    docA.transact(() => {
      rootsA.redactions.set('m1', { by: 'alice', at: 3 });
      removeRedacted(rootsA, ['m1']);
    });
    const snapA = coveredSnapshot(docA);
    await a.redactMessages(id, ['m1'], { snapshot: snapA.update, holds: snapA.holds });
    expect(await rowsWith(id, secret)).toEqual([]);
    // B, still without the purge, compacts its document (which holds the text) over A's row.
    const snapB = coveredSnapshot(docB);
    await b.compact(id, snapB.update, undefined, snapB.holds, snapB.deletions);
    expect(await rowsWith(id, secret)).toEqual([]);
    // The log still loads: the marker, and nothing of the message but its place.
    const loaded = new Y.Doc();
    for (const u of (await a.loadUpdates(id)).updates) Y.applyUpdate(loaded, u);
    const roots = threadRoots(loaded);
    expect([roots.messages.length, roots.edits.size, roots.redactions.has('m1')]).toEqual([0, 0, true]);
    expect((await a.getMessage(id, 'm1'))!.text).toBe('');
  });

  /** Which stored rows of the thread (its update log, its message rows) contain `text`. */
  async function rowsWith(threadId: string, text: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ what: string }>(
        `SELECT 'updates' AS what FROM ${schema}.updates WHERE thread_id = $1 AND position(convert_to($2, 'UTF8') IN data) > 0
         UNION ALL SELECT 'messages' FROM ${schema}.messages WHERE thread_id = $1 AND strpos(text, $2) > 0`,
        [threadId, text],
      );
      return rows.map((r) => r.what);
    } finally {
      await client.end();
    }
  }
});

describe('PostgresStore connection options', () => {
  it('keeps startup options of the URL and still uses its own schema', async () => {
    const schema = pgs.freshSchema();
    const store = await PostgresStore.open({ connectionString: `${PG_URL}?options=${encodeURIComponent('-c statement_timeout=4321')}`, schema });
    try {
      await store.createThread({ id: 'x', title: '', participants: ['alice'], mirror: false, createdAt: 1 });
      const pool = (store as unknown as { pool: pg.Pool }).pool;
      const { rows } = await pool.query<{ s: string; p: string; t: string }>(
        "SELECT current_schema() AS s, current_setting('search_path') AS p, current_setting('statement_timeout') AS t",
      );
      expect(rows[0]).toEqual({ s: schema, p: schema, t: '4321ms' });
    } finally {
      await store.close();
    }
  });
});
