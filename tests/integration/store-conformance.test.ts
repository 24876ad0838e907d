/**
 * One conformance suite for every Store implementation. Add a factory to `stores`
 * when a new adapter lands; each runs the same cases.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { GenerationSealedError, type MessageCandidate, type Store } from '../../server/store/store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';

const pg = postgresSchemas();

const stores: Array<[string, () => Promise<Store>]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-store-')), 'db.sqlite'))],
  ['sqlite with a 3 ms commit window', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-store-')), 'db.sqlite'), { commitWindowMs: 3 })],
  ['postgres', () => pg.openStore()],
  ['postgres with row-lock sequencing', () => pg.openStore(undefined, 'row-lock')],
];

const cand = (id: string, state: 'sent' | 'rejected' = 'sent'): MessageCandidate => ({
  record: { id, authorId: 'alice', text: `text of ${id}`, clientSentAt: 42 },
  state,
  ...(state === 'rejected' ? { error: 'THREAD_ARCHIVED' } : {}),
});
/** The array `a` of a document built from `updates`. */
const replay = (updates: Uint8Array[]): unknown[] => {
  const d = new Y.Doc();
  for (const u of updates) Y.applyUpdate(d, u);
  return d.getArray('a').toArray();
};
const captureUpdate = (doc: Y.Doc, change: () => void): Uint8Array => {
  let out: Uint8Array | null = null;
  doc.once('update', (u: Uint8Array) => (out = u));
  change();
  return out!;
};
const bytes = (...b: number[]) => new Uint8Array(b);
let n = 0;
const newId = () => `thread-${Date.now()}-${n++}`;

describe.each(stores)('%s store', (_name, make) => {
  const opened: Store[] = [];
  const open = async () => {
    const s = await make();
    opened.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  it('creates, lists and archives threads with their members', async () => {
    const s = await open();
    const id = newId();
    const t = await s.createThread({ id, title: 'T', participants: ['alice', 'bob'], mirror: true, createdAt: 5 });
    expect(t).toEqual({ id, title: 'T', participants: ['alice', 'bob'], owner: 'alice', moderators: [], remotes: [], atUri: null, mirror: true, archived: false, createdAt: 5, lastSeq: 0, generation: 0, baseSeq: 0, liveDoc: id });
    expect(await s.getThread('missing')).toBeNull();
    expect((await s.listThreadsForUser('bob')).map((x) => x.id)).toContain(id);
    expect((await s.listThreadsForUser('carol')).map((x) => x.id)).not.toContain(id);
    expect((await s.archiveThread(id))!.archived).toBe(true);
    expect(await s.archiveThread('missing')).toBeNull();
    expect((await s.unarchiveThread(id))!.archived).toBe(false);
    expect((await s.unarchiveThread(id))!.archived).toBe(false);
    expect(await s.unarchiveThread('missing')).toBeNull();
  });

  it('keeps the owner, adds and removes members and sets moderators (roles, issue 30)', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: 'T', participants: ['bob', 'alice'], mirror: false, createdAt: 5, owner: 'alice' });
    expect(await s.getThread(id)).toMatchObject({ owner: 'alice', participants: ['bob', 'alice'], moderators: [] });
    expect((await s.setMember(id, 'carol', true))!.participants).toEqual(['bob', 'alice', 'carol']);
    expect((await s.setMember(id, 'carol', true))!.participants).toEqual(['bob', 'alice', 'carol']);
    expect((await s.setModerators(id, ['bob', 'carol']))!.moderators).toEqual(['bob', 'carol']);
    expect((await s.setModerators(id, ['carol']))!.moderators).toEqual(['carol']);
    // Removing a member drops the role with it; adding them back makes a plain member.
    expect(await s.setMember(id, 'carol', false)).toMatchObject({ participants: ['bob', 'alice'], moderators: [] });
    expect((await s.listThreadsForUser('carol')).map((x) => x.id)).not.toContain(id);
    // Erasure visits the threads a user was removed from (their receipts stay in the document).
    expect(await s.listFormerThreads('carol')).toEqual([id]);
    await s.setMember(id, 'zed', false); // never a member: nothing to remember
    expect(await s.listFormerThreads('zed')).toEqual([]);
    expect(await s.setMember(id, 'carol', true)).toMatchObject({ participants: ['bob', 'alice', 'carol'], moderators: [], owner: 'alice' });
    expect(await s.listFormerThreads('carol')).toEqual([]);
    expect(await s.setMember('missing', 'carol', true)).toBeNull();
    expect(await s.setModerators('missing', [])).toBeNull();
    // A thread stored without an owner (before roles): its first participant.
    const old = newId();
    expect((await s.createThread({ id: old, title: 'T', participants: ['dave', 'erin'], mirror: false, createdAt: 5 })).owner).toBe('dave');
  });

  it('lists an author’s undeleted messages in every thread and generation, and drops their receipts (erasure, then one redaction path)', async () => {
    const s = await open();
    const [t1, t2] = [newId(), newId()];
    const author = `erased-${n}`;
    await s.createThread({ id: t1, title: 'T', participants: ['alice', author], mirror: true, createdAt: 5 });
    await s.createThread({ id: t2, title: 'T', participants: ['alice', author], mirror: false, createdAt: 5 });
    const by = (id: string, who: string): MessageCandidate => ({ record: { id, authorId: who, text: `text of ${id}`, clientSentAt: 42 }, state: 'sent' });
    await s.commitMessages(t1, [bytes(1)], [by('a', author), by('b', 'alice'), by('c', author)], 1000);
    await s.commitMessages(t2, [bytes(2)], [by('d', author)], 1000);
    await s.rollGeneration(t1, 0, bytes(3), [{ messageId: 'b', userId: author, readAt: 7 }, { messageId: 'a', userId: 'alice', readAt: 8 }]);
    const authored = await s.listAuthored(author);
    expect(authored.map((m) => `${m.threadId === t1 ? 1 : 2}:${m.messageId}`).sort()).toEqual(['1:a', '1:c', '2:d']);
    await s.dropReceipts(author);
    expect(await s.listReceipts(t1, ['a', 'b'])).toEqual([{ messageId: 'a', userId: 'alice', readAt: 8 }]);
    // The room deletes them as a delete does: sealed rows included, seqs and others kept.
    await s.redactMessages(t1, ['a', 'c'], { snapshot: bytes(3), holds: () => true });
    expect((await s.listMessages(t1, 0, 10)).map((m) => [m.seq, m.id, m.text])).toEqual([
      [1, 'a', ''],
      [2, 'b', 'text of b'],
      [3, 'c', ''],
    ]);
    // Only alice's message is still waiting to be mirrored.
    const claimed = await s.claimOutbox(100, Date.now() + 1, 1000);
    expect(claimed.filter((c) => c.message.threadId === t1).map((c) => c.message.id)).toEqual(['b']);
    expect((await s.listAuthored(author)).map((m) => m.messageId)).toEqual(['d']);
  });

  it('adds and removes remote members (DIDs), idempotently', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: 'T', participants: ['alice'], mirror: false, createdAt: 5 });
    expect((await s.setRemote(id, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', true))!.remotes).toEqual(['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa']);
    expect((await s.setRemote(id, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', true))!.remotes).toEqual(['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa']);
    expect((await s.getThread(id))!.remotes).toEqual(['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa']);
    expect((await s.setRemote(id, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', false))!.remotes).toEqual([]);
    expect(await s.setRemote('missing', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', true)).toBeNull();
  });

  it('keeps a thread\'s at:// identity: set once, unique, found by URI', async () => {
    const s = await open();
    const [a, b] = [newId(), newId()];
    const uri = `at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/dev.skein.chat.thread/${a}`;
    await s.createThread({ id: a, title: 'A', participants: ['alice'], mirror: true, createdAt: 1 });
    expect((await s.getThread(a))!.atUri).toBeNull();
    expect((await s.setThreadAtUri(a, uri))!.atUri).toBe(uri);
    expect((await s.setThreadAtUri(a, `${uri}x`))!.atUri).toBe(uri);
    expect((await s.getThreadByAtUri(uri))!.id).toBe(a);
    expect(await s.getThreadByAtUri(`${uri}x`)).toBeNull();
    await expect(s.createThread({ id: b, title: 'B', participants: ['bob'], mirror: true, createdAt: 2, atUri: uri })).rejects.toThrow();
  });

  it('assigns gap-free seqs in the commit, skips known ids and keeps sentAt non-decreasing', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    const first = await s.commitMessages(id, [bytes(1)], [cand('a'), cand('b')], 1000);
    expect(first.map((m) => [m.id, m.seq, m.sentAt])).toEqual([['a', 1, 1000], ['b', 2, 1000]]);
    const second = await s.commitMessages(id, [bytes(2)], [cand('b'), cand('c', 'rejected')], 500);
    expect(second.map((m) => [m.id, m.seq, m.sentAt, m.state, m.error])).toEqual([['c', 3, 1000, 'rejected', 'THREAD_ARCHIVED']]);
    const listed = await s.listMessages(id, 0, 10);
    expect(listed.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(listed[0]).toMatchObject({ id: 'a', authorId: 'alice', text: 'text of a', clientSentAt: 42, state: 'sent' });
    expect((await s.listMessages(id, 1, 1)).map((m) => m.id)).toEqual(['b']);
    expect((await s.getThread(id))!.lastSeq).toBe(3);
    const [summary] = (await s.listThreadsForUser('alice')).filter((t) => t.id === id);
    // The summary shows the newest message that was not rejected.
    expect(summary!.lastMessage).toMatchObject({ id: 'b', seq: 2 });
    expect(summary!.lastSeq).toBe(3);
    expect((await s.loadUpdates(id)).updates).toEqual([bytes(1), bytes(2)]);
  });

  it('stores the relay update a commit builds from its seqs, before it resolves (relayRow)', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    const client = new Y.Doc();
    const relay = new Y.Doc();
    const clientUpdate = captureUpdate(client, () => client.getArray('a').push(['a', 'b']));
    Y.applyUpdate(relay, clientUpdate);
    const seen: number[][] = [];
    const stored = await s.commitMessages(id, [clientUpdate], [cand('a'), cand('b')], 1000, {
      relayRow: (messages) => {
        seen.push(messages.map((m) => m.seq));
        const canon = captureUpdate(relay, () => relay.getMap('canon').set('a', messages[0]!.seq));
        return { relay: canon, merged: Y.mergeUpdates([clientUpdate, canon]) };
      },
    });
    expect(seen).toEqual([[1, 2]]);
    expect(stored.map((m) => m.seq)).toEqual([1, 2]);
    // Loaded back, the log holds the client's update and the relay's canon for the seqs.
    const d = new Y.Doc();
    for (const u of (await s.loadUpdates(id)).updates) Y.applyUpdate(d, u);
    expect(d.getArray('a').toArray()).toEqual(['a', 'b']);
    expect(d.getMap('canon').toJSON()).toEqual({ a: 1 });
    // A callback that returns null: the updates are stored as they are.
    const more = captureUpdate(client, () => client.getArray('a').push(['c']));
    await s.commitMessages(id, [more], [cand('c')], 1001, { relayRow: () => null });
    expect(replay((await s.loadUpdates(id)).updates)).toEqual(['a', 'b', 'c']);
  });

  it('keeps seqs gap-free after a commit that fails once its seqs are assigned, beside one that stands', async () => {
    const s = await open();
    const [a, b] = [newId(), newId()];
    for (const id of [a, b]) await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    await s.commitMessages(a, [bytes(1)], [cand('a1')], 1000);
    // Same turn: b's commit stands, a's fails after its seqs were assigned and rolls back.
    const failing = s.commitMessages(a, [bytes(2)], [cand('a2'), cand('a3')], 1001, {
      relayRow: () => {
        throw new Error('relay row failed');
      },
    });
    const standing = s.commitMessages(b, [bytes(3)], [cand('b1')], 1001);
    await expect(failing).rejects.toThrow('relay row failed');
    expect((await standing).map((m) => m.seq)).toEqual([1]);
    // Whether the failed commit's rows stand (PostgreSQL: sequenced before the callback) or
    // not (SQLite: one transaction), the cursor is the last row and the next seq follows it.
    const before = await s.listMessages(a, 0, 10);
    expect((await s.getThread(a))!.lastSeq).toBe(before.length);
    await s.commitMessages(a, [bytes(4)], [cand('a2'), cand('a3'), cand('a4')], 1002);
    const after = await s.listMessages(a, 0, 10);
    expect(after.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(after.map((m) => m.id)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect((await s.getThread(a))!.lastSeq).toBe(4);
  });

  it('commits nothing when the transaction fails', async () => {
    const s = await open();
    await expect(s.commitMessages('no-such-thread', [bytes(9)], [cand('z')], 1)).rejects.toThrow();
    expect((await s.loadUpdates('no-such-thread')).updates).toEqual([]);
    expect(await s.listMessages('no-such-thread', 0, 10)).toEqual([]);
  });

  it('appends, counts and compacts the update log', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    const doc = new Y.Doc();
    const log: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => log.push(u));
    for (let i = 0; i < 5; i++) doc.getArray('a').push([i]);
    for (const u of log) await s.appendUpdate(id, u);
    expect(await s.countUpdates(id)).toBe(5);
    expect((await s.loadUpdates(id)).updates).toEqual(log);
    await s.compact(id, Y.encodeStateAsUpdate(doc));
    expect(await s.countUpdates(id)).toBe(1);
    expect(replay((await s.loadUpdates(id)).updates)).toEqual([0, 1, 2, 3, 4]);
  });

  /** A thread whose log holds `mine` (in the snapshot `here`) and `extra` rows from another replica. */
  const twoReplicaLog = async (...extra: string[]) => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    const here = new Y.Doc();
    const other = new Y.Doc();
    const mine = captureUpdate(here, () => here.getArray('a').push(['mine']));
    const theirs = extra.map((x) => captureUpdate(other, () => other.getArray('a').push([x])));
    for (const u of [mine, ...theirs]) await s.appendUpdate(id, u);
    return { s, id, snapshot: Y.encodeStateAsUpdate(here), theirs };
  };

  it('compaction keeps a stored update its snapshot lacks (appended by another instance)', async () => {
    const { s, id, snapshot } = await twoReplicaLog('theirs');
    await s.compact(id, snapshot);
    expect(await s.countUpdates(id)).toBe(1);
    expect(replay((await s.loadUpdates(id)).updates).sort()).toEqual(['mine', 'theirs']);
  });

  it('compaction merges only the rows `holds` does not vouch for', async () => {
    const { s, id, snapshot, theirs } = await twoReplicaLog('theirs', 'vouched');
    // `vouched` is not in the snapshot: a store that merged it anyway would keep it.
    const seen: Uint8Array[] = [];
    const holds = (row: Uint8Array) => (seen.push(row), Buffer.compare(row, theirs[0]!) !== 0);
    await s.compact(id, snapshot, undefined, holds);
    expect(seen).toHaveLength(3);
    expect(await s.countUpdates(id)).toBe(1);
    expect(replay((await s.loadUpdates(id)).updates).sort()).toEqual(['mine', 'theirs']);
  });

  it('pages back by seq: the newest messages before a seq, in seq order', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: false, createdAt: 0 });
    await s.commitMessages(id, [bytes(1)], ['a', 'b', 'c', 'd', 'e'].map((x) => cand(x)), 10);
    expect((await s.listMessagesBefore(id, 5, 2)).map((m) => m.seq)).toEqual([3, 4]);
    expect((await s.listMessagesBefore(id, 3, 10)).map((m) => m.id)).toEqual(['a', 'b']);
    expect(await s.listMessagesBefore(id, 1, 10)).toEqual([]);
    expect((await s.listMessagesBefore(id, Number.MAX_SAFE_INTEGER, 1)).map((m) => m.seq)).toEqual([5]);
  });

  it('looks messages up by id (in seq order, unknown ids left out) and counts others\' messages in a seq range', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice', 'bob'], mirror: false, createdAt: 0 });
    const by = (x: string, authorId: string): MessageCandidate => ({ record: { id: x, authorId, text: `text of ${x}`, clientSentAt: 42 }, state: 'sent' });
    await s.commitMessages(id, [bytes(1)], [by('a', 'alice'), by('b', 'bob'), by('c', 'bob'), by('d', 'alice'), by('e', 'bob')], 10);
    expect((await s.getMessages(id, ['e', 'nope', 'b', 'b'])).map((m) => [m.id, m.seq])).toEqual([['b', 2], ['e', 5]]);
    expect(await s.getMessages(id, [])).toEqual([]);
    expect(await s.getMessages(newId(), ['a'])).toEqual([]);
    expect(await s.countOthersMessages(id, 0, 6, 'alice')).toBe(3);
    expect(await s.countOthersMessages(id, 2, 5, 'alice')).toBe(1); // seq 3 (bob); 4 is alice's own
    expect(await s.countOthersMessages(id, 0, 6, 'bob')).toBe(2);
    expect(await s.countOthersMessages(id, 5, 100, 'alice')).toBe(0);
  });

  it('rolls a generation atomically: base seq, new log, folded receipts (latest readAt wins), once', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice', 'bob'], mirror: false, createdAt: 0 });
    await s.commitMessages(id, [bytes(1), bytes(2)], [cand('a'), cand('b')], 10);
    const rolled = await s.rollGeneration(id, 0, bytes(9), [
      { messageId: 'a', userId: 'bob', readAt: 50 },
      { messageId: 'b', userId: 'bob', readAt: 40 },
    ], bytes(7, 1));
    expect(rolled).toMatchObject({ id, generation: 1, baseSeq: 2, lastSeq: 2, liveDoc: `${id}~1` });
    expect((await s.loadUpdates(id)).updates).toEqual([bytes(9)]);
    // The sealed generation's state vector is kept; the live one has none.
    expect(await s.sealedState(id, 0)).toEqual(bytes(7, 1));
    expect(await s.sealedState(id, 1)).toBeNull();
    // Someone else rolled already: nothing changes.
    expect(await s.rollGeneration(id, 0, bytes(8), [], bytes(6))).toBeNull();
    expect(await s.sealedState(id, 0)).toEqual(bytes(7, 1));
    expect(await s.rollGeneration('missing', 0, bytes(8), [])).toBeNull();
    expect((await s.loadUpdates(id)).updates).toEqual([bytes(9)]);
    // Seqs stay gap-free across the roll, and a known id gets no second seq.
    const next = await s.commitMessages(id, [bytes(3)], [cand('a'), cand('c')], 11);
    expect(next.map((m) => [m.id, m.seq])).toEqual([['c', 3]]);
    await s.rollGeneration(id, 1, bytes(10), [
      { messageId: 'a', userId: 'bob', readAt: 30 },
      { messageId: 'c', userId: 'alice', readAt: 70 },
    ]);
    expect(await s.getThread(id)).toMatchObject({ generation: 2, baseSeq: 3, liveDoc: `${id}~2` });
    const receipts = await s.listReceipts(id, ['a', 'b', 'c', 'zz']);
    expect(receipts.sort((x, y) => (x.messageId + x.userId).localeCompare(y.messageId + y.userId))).toEqual([
      { messageId: 'a', userId: 'bob', readAt: 50 },
      { messageId: 'b', userId: 'bob', readAt: 40 },
      { messageId: 'c', userId: 'alice', readAt: 70 },
    ]);
  });

  it('refuses every write of a sealed generation, atomically, and takes those of the live one', async () => {
    const s = await open();
    const id = newId();
    await s.createThread({ id, title: '', participants: ['alice'], mirror: true, createdAt: 0 });
    const old = new Y.Doc();
    const oldUpdate = captureUpdate(old, () => old.getArray('a').push(['sealed']));
    await s.commitMessages(id, [oldUpdate], [cand('a')], 10, { generation: 0 });
    const next = new Y.Doc();
    const first = captureUpdate(next, () => next.getArray('a').push(['live']));
    await s.rollGeneration(id, 0, first, []);
    const sealed = (p: Promise<unknown>) =>
      expect(p).rejects.toSatisfy((e) => e instanceof GenerationSealedError && e.threadId === id && e.generation === 0 && e.liveGeneration === 1);
    // A room of generation 0 on another instance, not yet aware of the roll, writes.
    await sealed(s.commitMessages(id, [bytes(5)], [cand('x'), cand('y')], 20, { generation: 0 }));
    await sealed(s.commitMessages(id, [bytes(6)], [], 21, { generation: 0 }));
    await sealed(s.appendUpdate(id, bytes(7), 0));
    await sealed(s.compact(id, Y.encodeStateAsUpdate(old), 0));
    // Nothing of them landed: no seq, no outbox row, the new generation's log untouched.
    expect((await s.loadUpdates(id)).updates).toEqual([first]);
    expect((await s.getThread(id))!.lastSeq).toBe(1);
    expect(await s.getMessage(id, 'x')).toBeNull();
    expect((await s.outboxStats()).depth).toBe(1);
    // Generation 1's writes go through.
    const more = captureUpdate(next, () => next.getArray('a').push(['more']));
    expect((await s.commitMessages(id, [more], [cand('x')], 22, { generation: 1 })).map((m) => m.seq)).toEqual([2]);
    const relay = captureUpdate(next, () => next.getArray('a').push(['relay']));
    await s.appendUpdate(id, relay, 1);
    await s.compact(id, Y.encodeStateAsUpdate(next), 1);
    expect(replay((await s.loadUpdates(id)).updates)).toEqual(['live', 'more', 'relay']);
    await expect(s.appendUpdate('missing', bytes(1), 0)).rejects.toThrow(/unknown thread/);
  });
});
