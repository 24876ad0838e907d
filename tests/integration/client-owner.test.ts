/**
 * A Yjs client id belongs to the user who first wrote with it in a thread, for good (issue 28):
 * the relay records the owner with the commit that first stores the id's structs (`owners`
 * root), so the record survives the deletion of every one of those structs. The probe: bob's
 * message is rejected in an archived thread (all his structs tombstoned), the thread reopens,
 * bob writes offline, and mallory writes under bob's client id at his next clock first.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { startStoreRelay } from '../helpers/store-relay.ts';
import { ulid } from 'ulid';
import { rawPeer } from '../helpers/raw-peer.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('client-id ownership', () => {
  it('survives the deletion of every struct of the id: a takeover is refused (4402) and the owner’s offline message is sequenced', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-owner-')), 'skein.sqlite'));
    cleanups.push(() => store.close());
    const relay = await startStoreRelay(store);
    cleanups.push(() => relay.close());
    const thread = await store.createThread({ id: 'owned', title: 't', participants: ['alice', 'bob', 'mallory'], mirror: false, createdAt: Date.now() });
    const client = (user: string, doc?: Y.Doc) => {
      const c = connectClient(relay.wsUrl, thread.id, user, user, doc);
      cleanups.push(() => c.destroy());
      return c;
    };
    const post = (path: string) => fetch(`${relay.url}/v1/threads/${thread.id}/${path}`, { method: 'POST', headers: { authorization: 'Bearer alice' } });
    const alice = client('alice');
    const bob = client('bob');
    await Promise.all([synced(alice), synced(bob)]);

    expect((await post('archive')).status).toBe(200);
    await bob.until(() => bob.roots.meta.get('archived') === true, 'bob sees the archive');
    const rejected = bob.send('refused: the thread is archived');
    await bob.until(() => bob.roots.canon.get(rejected.id)?.state === 'rejected', 'bob’s message rejected');
    // Every struct bob's client id wrote is deleted now.
    expect(bob.roots.messages.toArray().some((m) => m.id === rejected.id)).toBe(false);
    expect((await post('unarchive')).status).toBe(200);
    await bob.until(() => bob.roots.meta.get('archived') === false, 'bob sees the thread reopened');

    bob.provider.disconnect();
    const offline = bob.send('written offline');

    // mallory syncs, then continues bob's client id at the relay's next clock for it.
    const mallory = rawPeer(relay.wsUrl, thread.id, 'mallory');
    cleanups.push(() => mallory.ws.terminate());
    await mallory.synced;
    mallory.doc.clientID = bob.doc.clientID;
    const stolen = { id: ulid(), authorId: 'mallory', text: 'under bob’s client id', clientSentAt: Date.now() };
    const update = mallory.forge((roots) => roots.messages.insert(roots.messages.length, [stolen]));
    expect(Y.decodeUpdate(update).structs.map((x) => x.id.client)).toContain(bob.doc.clientID);
    const closed = await Promise.race([mallory.closed, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    expect(closed?.code, 'mallory is refused').toBe(CloseCode.POLICY_VIOLATION);

    bob.provider.connect();
    await bob.until(() => bob.roots.canon.get(offline.id)?.state === 'sent', 'bob’s offline message sequenced');
    await alice.until(() => alice.roots.canon.has(offline.id), 'alice gets it');
    expect(alice.roots.messages.toArray().map((m) => m.id)).not.toContain(stolen.id);
    expect((await store.listMessages(thread.id, 0, 100)).map((m) => m.id)).toEqual([rejected.id, offline.id]);
    expect(bob.closes.filter((c) => c.code >= 4400 && c.code < 4500)).toEqual([]);
  });
});
