/**
 * Commit-first rooms (issue 27; server/room/thread-room.ts): a room's document never reaches
 * anyone — peers, sync step 1 answers, the stored log — with what its store does not hold,
 * whatever write fails. Each reproduction of the issue is its own case, on SQLite and on
 * PostgreSQL, with a real relay in process over a store with injected faults
 * (helpers/faulty-store.ts) and stock y-websocket clients.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { type MessageRecord, threadRoots } from '../../shared/schema.ts';
import { DocRegistry } from '../../server/room/doc-registry.ts';
import { createLogger } from '../../server/ops/logger.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { Store } from '../../server/store/store.ts';
import { Faults, faultyStore } from '../helpers/faulty-store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { startStoreRelay, storedDoc, unstoredStructs } from '../helpers/store-relay.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const pg = postgresSchemas();
const stores: Array<[string, () => Promise<Store>]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-commit-first-')), 'skein.sqlite'))],
  ['postgres', () => pg.openStore()],
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Close codes a client must never get from a fault that clears: 44xx are final for stock clients. */
const permanent = (c: TestClient) => c.closes.filter((x) => x.code >= 4400 && x.code < 4500);

/** Every message of `ids` has exactly one row, seqs are 1..n without gaps. */
async function expectOneSeqEach(store: Store, threadId: string, ids: string[]): Promise<Map<string, number>> {
  const rows = await store.listMessages(threadId, 0, 10_000);
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  return new Map(rows.map((r) => [r.id, r.seq]));
}

describe.each(stores)('commit first (%s)', (_kind, open) => {
  async function setup(config = {}) {
    const faults = new Faults();
    const real = await open();
    cleanups.push(() => real.close());
    const store = faultyStore(real, faults);
    const relay = await startStoreRelay(store, { compactAfterUpdates: 3, compactGrowthPercent: 0, ...config });
    cleanups.push(() => relay.close());
    const thread = await real.createThread({ id: `t-${Math.random().toString(36).slice(2, 10)}`, title: 'faults', participants: ['alice', 'bob'], mirror: false, createdAt: Date.now() });
    const client = (user: string) => {
      const c = connectClient(relay.wsUrl, thread.id, user, user);
      cleanups.push(() => c.destroy());
      return c;
    };
    return { faults, store: real, relay, thread, client };
  }

  const seqOf = (c: TestClient, m: MessageRecord) => c.roots.canon.get(m.id)?.seq;

  it('(1) a batch whose commit fails gets its seq once the client resends it, not never', async () => {
    const { faults, store, thread, client } = await setup();
    const alice = client('alice');
    const bob = client('bob');
    await Promise.all([synced(alice), synced(bob)]);
    const m1 = alice.send('one');
    await alice.until(() => seqOf(alice, m1) === 1, 'm1 sequenced');
    faults.fail('commitMessages');
    const m2 = alice.send('two');
    // The failed commit closes alice (retryable); her provider reconnects and resends m2.
    const m3 = bob.send('three');
    await alice.until(() => seqOf(alice, m2) !== undefined && seqOf(alice, m3) !== undefined, 'm2 and m3 sequenced');
    await bob.until(() => seqOf(bob, m2) !== undefined && seqOf(bob, m3) !== undefined, 'bob sees m2 and m3');
    expect(faults.injected.get('commitMessages')).toBe(1);
    const seqs = await expectOneSeqEach(store, thread.id, [m1.id, m2.id, m3.id]);
    for (const c of [alice, bob]) for (const m of [m1, m2, m3]) expect(seqOf(c, m)).toBe(seqs.get(m.id));
    expect([...permanent(alice), ...permanent(bob)]).toEqual([]);
    expect(alice.closes.concat(bob.closes).some((c) => c.code === CloseCode.STORAGE_FAILURE)).toBe(true);
  });

  it('(2) a commit that fails inside its transaction leaves no canon behind: no two messages share a seq', async () => {
    const { faults, store, thread, client } = await setup();
    const alice = client('alice');
    const bob = client('bob');
    await Promise.all([synced(alice), synced(bob)]);
    const m1 = alice.send('one');
    await bob.until(() => seqOf(bob, m1) === 1, 'm1 sequenced');
    faults.fail('commitMessages', 1, 'inside');
    const m2 = alice.send('two');
    const m3 = bob.send('three');
    for (const c of [alice, bob]) await c.until(() => [m1, m2, m3].every((m) => seqOf(c, m) !== undefined), 'all sequenced');
    const seqs = await expectOneSeqEach(store, thread.id, [m1.id, m2.id, m3.id]);
    // The stored canon (what a reload and every new member get) agrees with the rows.
    const canon = threadRoots(await storedDoc(store, thread.id)).canon;
    for (const m of [m1, m2, m3]) {
      expect(canon.get(m.id)?.seq).toBe(seqs.get(m.id));
      for (const c of [alice, bob]) expect(seqOf(c, m)).toBe(seqs.get(m.id));
    }
    expect([...permanent(alice), ...permanent(bob)]).toEqual([]);
  });

  it('(3) a relay change is stored before any peer sees it: a failed store never locks a client out with 4402', async () => {
    const { faults, store, relay, thread, client } = await setup();
    const alice = client('alice');
    await synced(alice);
    const m1 = alice.send('one');
    await alice.until(() => seqOf(alice, m1) === 1, 'm1 sequenced');
    // Storing the archive's relay update is slow, then fails; bob joins meanwhile.
    const gate = faults.gate('appendUpdate');
    const archived = await store.archiveThread(thread.id);
    (await relay.relay.ctx.registry.peek(thread.id))?.syncMeta(archived!);
    await gate.arrived;
    const bob = client('bob');
    // Until the store answers, bob may not learn of the archive (his step 1 waits for it).
    await Promise.race([synced(bob), new Promise((r) => setTimeout(r, 500))]);
    expect(bob.roots.meta.get('archived')).not.toBe(true);
    gate.release(true);
    await synced(bob);
    // Every relay struct either peer holds is in the store, so a reload can never refuse them.
    expect(await unstoredStructs(store, thread.id, bob.doc, [bob.doc.clientID])).toEqual([]);
    await alice.until(() => alice.roots.meta.get('archived') === true, 'alice sees the archive');
    await bob.until(() => bob.roots.meta.get('archived') === true, 'bob sees the archive');
    expect(faults.injected.get('appendUpdate')).toBe(1);
    // Both can still write after the fault (the archive tombstones the message: it is refused, not lost).
    const m2 = bob.send('two');
    await bob.until(() => bob.roots.canon.get(m2.id)?.state === 'rejected', 'bob’s message settled');
    for (const c of [alice, bob]) expect(await unstoredStructs(store, thread.id, c.doc, [c.doc.clientID])).toEqual([]);
    expect([...permanent(alice), ...permanent(bob)]).toEqual([]);
  });

  it('(5) intake is bounded: behind a slow commit, no row outgrows the batch bound and nobody is closed', async () => {
    const maxFrameBytes = 64 * 1024;
    const { faults, store, thread, client } = await setup({
      compactAfterUpdates: 100_000,
      limits: { maxFrameBytes, updatesPerSecond: 100_000, messagesPerSecond: 100_000, messageBurst: 100_000 },
    });
    const alice = client('alice');
    await synced(alice);
    const gate = faults.gate('commitMessages');
    const first = alice.send('x'.repeat(3000));
    await gate.arrived;
    // ~40 KB per update, 60 updates (2.4 MB) while the first commit is held.
    const sent: MessageRecord[] = [first];
    for (let i = 0; i < 60; i++) {
      alice.doc.transact(() => {
        for (let k = 0; k < 13; k++) sent.push(alice.send(`${i}-${k} ${'y'.repeat(3000)}`));
      });
    }
    gate.release();
    await alice.until(() => sent.every((m) => seqOf(alice, m) !== undefined), 'every message sequenced', 60_000);
    await expectOneSeqEach(store, thread.id, sent.map((m) => m.id));
    const { updates } = await store.loadUpdates(thread.id);
    const largest = Math.max(...updates.map((u) => u.byteLength));
    // A batch is at most 4 frames' worth, plus the relay's canon for it.
    expect(largest).toBeLessThan(4 * maxFrameBytes + 16 * 1024);
    expect(updates.length).toBeGreaterThan(5);
    expect(alice.closes).toEqual([]);
  });
});

describe.each(stores)('relay appends (%s)', (_kind, open) => {
  it('(4) an ingest append whose commit fails is appended once when retried', async () => {
    const faults = new Faults();
    const real = await open();
    cleanups.push(() => real.close());
    const store = faultyStore(real, faults);
    const registry = new DocRegistry(store, createLogger('silent'), { idleUnloadMs: 60_000, compactAfterUpdates: 1, maxTextLength: 4000 });
    cleanups.push(() => registry.closeAll());
    const thread = await real.createThread({ id: `i-${Math.random().toString(36).slice(2, 10)}`, title: 't', participants: ['u'], mirror: false, createdAt: Date.now() });
    const item = (id: string) => ({ message: { id, authorId: 'did:plc:remote', text: `ingested ${id}`, clientSentAt: 1 }, atUri: `at://did:plc:remote/dev.skein.chat.message/${id}`, atCid: 'bafy' });
    await registry.withLiveRoom(thread, (room) => room.appendIngested([item('a0')]));
    faults.fail('commitMessages');
    // The failed commit drops the room; withLiveRoom tries once more on a room loaded from the store.
    const first = await registry.withLiveRoom(thread, (room) => room.appendIngested([item('a1')]));
    expect(faults.injected.get('commitMessages')).toBe(1);
    expect(first.map((m) => [m.id, m.seq])).toEqual([['a1', 2]]);
    // A later pass naming a1 again (the ingest applier retries a page) appends only what is new.
    const second = await registry.withLiveRoom(thread, (room) => room.appendIngested([item('a1'), item('a2')]));
    expect(second.map((m) => [m.id, m.seq])).toEqual([['a2', 3]]);
    await registry.closeAll();
    await expectOneSeqEach(real, thread.id, ['a0', 'a1', 'a2']);
    const ids = threadRoots(await storedDoc(real, thread.id)).messages.toArray().map((m) => m.id);
    expect(ids).toEqual(['a0', 'a1', 'a2']);
  });
});
