/**
 * Erasure on request (issue 30, docs/design/membership.md) against a real relay process on
 * SQLite: `POST /v1/admin/erasure` deletes everything a user wrote through the same redaction
 * as a delete — sealed rows, the live document and its stored log — leaves everyone else's
 * messages, seqs and order alone, and
 * the text is afterwards nowhere: not in a new sync, not in the history API, not in the
 * database file or its WAL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { threadRoots } from '../../shared/schema.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { connectClient, synced, waitUntil } from '../helpers/y-client.ts';

const ADMIN = 'erasure-admin-token-0123456789abcdef';
const { relay, tokens, client } = relayFixture({ SKEIN_ADMIN_TOKEN: ADMIN, SKEIN_GENERATION_MESSAGES: '5', SKEIN_ATPROTO_SERVICE: 'off' }, ['alice', 'bob']);

/** Every file of the relay's data dir (the SQLite database, its WAL and shm) contains `needle`? */
function onDisk(needle: string): string[] {
  const hits: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (readFileSync(p).includes(Buffer.from(needle))) hits.push(p);
    }
  };
  walk(relay.dataDir);
  return hits;
}

/** A new thread of alice's where bob has read her one message: his receipt, no message of his. */
async function readByBob(text: string) {
  const { id } = await relay.createThread(tokens.alice!, ['bob']);
  const alice = client(id, 'alice');
  const bob = client(id, 'bob');
  await Promise.all([synced(alice), synced(bob)]);
  const read = alice.send(text);
  await bob.until(allCanon(bob, [read.id]), `bob has “${text}”`);
  bob.roots.receipts.set(`${read.id}|bob`, { readAt: Date.now() });
  await alice.until(() => alice.roots.receipts.has(`${read.id}|bob`), `alice sees bob’s receipt of “${text}”`);
  return { id, alice, bob, read };
}

describe('erasure on request', () => {
  it('erases a user’s messages across threads and generations; the text is nowhere afterwards', async () => {
    const secret = `SECRET-${randomBytes(6).toString('hex')}`;
    const { id: t1 } = await relay.createThread(tokens.alice!, ['bob']);
    const { id: t2 } = await relay.createThread(tokens.bob!, ['alice']);
    // Thread 1: a backlog of 6 by bob (one commit, then the thread rolls: sealed rows).
    const doc = new Y.Doc();
    const msgs = threadRoots(doc).messages;
    for (let i = 0; i < 6; i++) msgs.push([{ id: ulid(), authorId: 'bob', text: `${secret} sealed ${i}`, clientSentAt: Date.now() }]);
    const backlog = connectClient(relay.wsUrl, t1, tokens.bob!, 'bob', doc);
    await waitUntil(doc, () => threadRoots(doc).canon.size >= 6, 'the backlog sequenced');
    backlog.destroy();
    let live = '';
    for (const end = Date.now() + 20_000; !live.includes('~'); ) {
      if (Date.now() > end) throw new Error('thread 1 did not roll');
      live = (await relay.api('GET', `/v1/threads/${t1}`, tokens.alice)).body.liveDoc;
      if (!live.includes('~')) await new Promise((r) => setTimeout(r, 50));
    }
    // Live messages in thread 1 (bob and alice) and thread 2 (bob).
    const b1 = client(live, 'bob');
    const a1 = client(live, 'alice');
    const b2 = client(t2, 'bob');
    await Promise.all([synced(b1), synced(a1), synced(b2)]);
    const liveBob = b1.send(`${secret} live`);
    const kept = a1.send('alice keeps this');
    const other = b2.send(`${secret} other thread`);
    await a1.until(allCanon(a1, [liveBob.id, kept.id]), 'thread 1 live messages sequenced');
    await b2.until(allCanon(b2, [other.id]), 'thread 2 message sequenced');
    // Thread 3: bob only reads (a receipt, no message of his).
    const { alice: a3, bob: b3, read } = await readByBob('read by bob');
    // Thread 4: bob read a message there, then alice removed him (his receipt stays in the document).
    const { id: t4, alice: a4, bob: b4, read: read4 } = await readByBob('read by bob before his removal');
    b4.destroy();
    expect((await relay.api('DELETE', `/v1/threads/${t4}/members/bob`, tokens.alice)).status).toBe(200);
    b1.destroy();
    b2.destroy();
    b3.destroy();
    expect(onDisk(secret)).not.toEqual([]);

    expect((await relay.api('POST', '/v1/admin/erasure', tokens.alice, { userId: 'bob' })).status).toBe(401);
    const r = await relay.api('POST', '/v1/admin/erasure', ADMIN, { userId: 'bob' });
    expect(r.status).toBe(200);
    expect(r.body.totals).toEqual({ threads: 2, messages: 8, atRecordsDeleted: 0 });
    expect(Object.fromEntries(r.body.threads.map((t: { threadId: string; messages: number; liveRecords: number }) => [t.threadId, [t.messages, t.liveRecords]]))).toEqual({
      [t1]: [7, 1],
      [t2]: [1, 1],
    });
    expect(r.body.scrubbed).toBe(true);
    // Where he wrote nothing, his receipts go all the same (the thread is not in the report).
    await a3.until(() => !a3.roots.receipts.has(`${read.id}|bob`), 'bob’s receipt removed in thread 3');
    expect(a3.roots.messages.toArray().map((m) => m.text)).toEqual(['read by bob']);
    // And in a thread he was removed from before the erasure.
    await a4.until(() => !a4.roots.receipts.has(`${read4.id}|bob`), 'bob’s receipt removed in thread 4');
    expect(a4.roots.messages.toArray().map((m) => m.text)).toEqual(['read by bob before his removal']);

    // Alice, online during the erasure, sees bob's live message deleted as a delete is (its
    // record gone, a deletion marker, its seq kept); hers is kept. The sealed ones are marked too.
    await a1.until(() => !a1.roots.messages.toArray().some((m) => m.id === liveBob.id), 'the live record deleted');
    expect(a1.roots.messages.toArray().map((m) => [m.id, m.text])).toEqual([[kept.id, 'alice keeps this']]);
    expect(a1.roots.redactions.get(liveBob.id)).toMatchObject({ by: 'bob' });
    expect(a1.roots.redactions.size).toBe(7);
    expect(a1.roots.canon.get(liveBob.id)?.seq).toBeGreaterThan(6);
    // A new sync of either thread and the history API: seqs and order kept, no text.
    const fresh = client(live, 'alice');
    await synced(fresh);
    expect(Buffer.from(Y.encodeStateAsUpdate(fresh.doc)).includes(Buffer.from(secret))).toBe(false);
    const fresh2 = client(t2, 'alice');
    await synced(fresh2);
    expect(fresh2.roots.messages.length).toBe(0);
    expect(fresh2.roots.redactions.has(other.id)).toBe(true);
    expect(fresh2.roots.canon.get(other.id)?.seq).toBe(1);
    expect(Buffer.from(Y.encodeStateAsUpdate(fresh2.doc)).includes(Buffer.from(secret))).toBe(false);
    const history = await relay.api('GET', `/v1/threads/${t1}/messages?afterSeq=0`, tokens.alice);
    expect(history.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(JSON.stringify(history.body)).not.toContain(secret);
    expect(history.body.messages.filter((m: { redacted?: true }) => m.redacted).length).toBe(7);
    expect(history.body.messages.find((m: { id: string }) => m.id === kept.id).text).toBe('alice keeps this');
    // Nor in the database files (SQLite file, WAL).
    expect(onDisk(secret)).toEqual([]);
    expect(onDisk('alice keeps this')).not.toEqual([]);
  });
});
