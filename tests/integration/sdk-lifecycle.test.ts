/**
 * The SDK's edit, delete and reactions (docs/design/message-lifecycle.md) in Node
 * (fake-indexeddb, ws) against a real relay process: online, offline (merged on reconnect),
 * refusals before anything is written, and a deleted message's text gone from the other
 * member's view and local IndexedDB copy.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { gatedSocket, untilView } from '../helpers/sdk-node.ts';

let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relay = await startRelay();
  for (const u of ['alice', 'bob', 'carol']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function client(userId: string, WS: typeof globalThis.WebSocket = WebSocket as unknown as typeof globalThis.WebSocket): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl: relay.url, userId, getToken: () => tokens[userId]!, WebSocketPolyfill: WS });
  clients.push(c);
  return c;
}

const until = (v: ThreadView, pred: (v: ThreadView) => boolean, what: string) => untilView(v, pred, what);

const byId = (v: ThreadView, id: string) => v.messages.find((m) => m.id === id);

/** Every value of every object store of every IndexedDB database, as text. */
async function allIndexedDb(): Promise<string> {
  const out: string[] = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open(name!);
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    for (const store of Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i)!)) {
      const values = await new Promise<unknown[]>((res, rej) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      for (const v of values) out.push(v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : JSON.stringify(v));
    }
    db.close();
  }
  return out.join('\n');
}

describe('SDK: edit, delete, react', () => {
  it('edits show everywhere with "edited" and the earlier versions; seq and order stay', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const t = await alice.createThread({ title: 'edits', participants: ['bob'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await Promise.all([a.ready, b.ready]);
    const id = await a.send('helo');
    const other = await b.send('hi');
    await until(b, (v) => v.messages.length === 2 && v.messages.every((m) => m.seq !== undefined), 'both sequenced');
    const order = b.messages.map((m) => [m.id, m.seq]);
    await expect(b.edit(id, 'forged')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await a.edit(id, 'hello');
    await until(b, (v) => byId(v, id)?.text === 'hello' && byId(v, id)?.editedAt !== undefined, 'bob sees the edit');
    expect(b.versions(id).map((x) => x.text)).toEqual(['helo', 'hello']);
    expect(b.messages.map((m) => [m.id, m.seq])).toEqual(order);
    expect(byId(b, other)!.editedAt).toBeUndefined();
  });

  it('reactions: counts, who, mine; removing one; a non-emoji is refused before anything is written', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const t = await alice.createThread({ title: 'reactions', participants: ['bob'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await Promise.all([a.ready, b.ready]);
    const id = await a.send('react');
    await until(b, (v) => byId(v, id)?.seq !== undefined, 'bob has it');
    await a.react(id, '👍');
    await b.react(id, '👍');
    await b.react(id, '🎉');
    await expect(b.react(id, 'nope')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await until(a, (v) => byId(v, id)?.reactions?.length === 2 && byId(v, id)!.reactions![0]!.count === 2, 'alice sees the reactions');
    expect(byId(a, id)!.reactions).toEqual([
      { emoji: '👍', count: 2, users: ['alice', 'bob'], mine: true },
      { emoji: '🎉', count: 1, users: ['bob'], mine: false },
    ]);
    await b.unreact(id, '👍');
    await until(a, (v) => byId(v, id)!.reactions![0]!.count === 1, 'alice sees the removal');
  });

  it('a deletion made offline applies on reconnect; the text leaves the other member’s view and IndexedDB', async () => {
    const gated = gatedSocket();
    const alice = await client('alice', gated.WS);
    const bob = await client('bob');
    const t = await alice.createThread({ title: 'delete', participants: ['bob', 'carol'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await Promise.all([a.ready, b.ready]);
    const secret = `SDK-SECRET-${Date.now()}`;
    const id = await a.send(secret);
    const kept = await a.send('kept');
    await until(b, (v) => byId(v, id)?.seq !== undefined && byId(v, kept)?.seq !== undefined, 'bob has both');
    const seq = byId(b, id)!.seq;
    await expect(b.delete(id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await allIndexedDb()).toContain(secret); // the test can fail: the text is cached locally

    gated.offline();
    await until(a, (v) => v.syncInfo.connection !== 'online', 'alice cut off');
    await a.delete(id);
    await a.edit(kept, 'kept, edited offline');
    // Shown as deleted at once, in its place.
    expect(byId(a, id)).toMatchObject({ redacted: true, text: '', seq });
    expect(byId(b, id)!.text).toBe(secret); // not yet: alice is offline

    gated.online();
    await until(b, (v) => byId(v, id)?.redacted === true && byId(v, kept)?.text === 'kept, edited offline', 'bob sees the deletion and the edit');
    expect(byId(b, id)).toMatchObject({ text: '', seq });
    expect(b.messages.map((m) => m.seq)).toEqual([1, 2]);
    // The relay's removal reached both: their documents and local copies no longer hold the text.
    await until(a, (v) => !v.roots.messages.toArray().some((m) => m.id === id), 'alice has the relay removal');
    await until(b, (v) => !v.roots.messages.toArray().some((m) => m.id === id), 'bob has the relay removal');
    const deadline = Date.now() + 10_000;
    while ((await allIndexedDb()).includes(secret)) {
      if (Date.now() > deadline) throw new Error('the text stayed in IndexedDB');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The history API agrees.
    const page = await relay.api('GET', `/v1/threads/${t.id}/messages?afterSeq=0&limit=10`, tokens.carol);
    expect(page.body.messages.find((m: any) => m.id === id)).toMatchObject({ redacted: true, text: '' });
  });
});
