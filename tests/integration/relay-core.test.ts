/** Relay core against a real relay process and stock y-websocket clients. */
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { threadRoots } from '../../shared/schema.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { allCanon, offlineOnBothSides } from '../helpers/scenarios.ts';
import { type TestClient, canonicalOrder, synced } from '../helpers/y-client.ts';

// A low compaction threshold makes every test here also exercise compaction.
const { relay, tokens, client } = relayFixture({ SKEIN_IDLE_UNLOAD_MS: '300', SKEIN_COMPACT_AFTER_UPDATES: '8' }, ['alice', 'bob', 'mallory']);




describe('membership and auth', () => {
  it('two members converge', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    const m1 = a.send('hello bob');
    const m2 = b.send('hi alice');
    await a.until(allCanon(a, [m1.id, m2.id]), 'alice sees both canon');
    await b.until(allCanon(b, [m1.id, m2.id]), 'bob sees both canon');
    expect(a.roots.messages.toJSON().map((m) => m.id).sort()).toEqual([m1.id, m2.id].sort());
    expect(canonicalOrder(a)).toEqual(canonicalOrder(b));
    expect(a.roots.meta.get('participants')).toEqual(['alice', 'bob']);
  });

  it('refuses a non-member, a bad token and an unknown thread with documented close codes', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const m = client(id, 'mallory');
    expect((await m.nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
    const forged = client(id, 'alice', { token: tokens.alice!.slice(0, -4) + 'AAAA' });
    expect((await forged.nextClose()).code).toBe(CloseCode.UNAUTHENTICATED);
    const nobody = client(id, 'alice', { token: '' });
    expect((await nobody.nextClose()).code).toBe(CloseCode.UNAUTHENTICATED);
    const unknown = client('01NOSUCHTHREAD', 'alice');
    expect((await unknown.nextClose()).code).toBe(CloseCode.UNKNOWN_THREAD);
    // The mallory doc never received the thread's metadata.
    expect(m.roots.meta.size).toBe(0);
  });

  it('answers HTTP with 401 without a token, 403 for non-members and 404 for unknown threads', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    expect((await relay.api('GET', '/v1/threads')).status).toBe(401);
    expect((await relay.api('GET', '/v1/threads', 'garbage')).status).toBe(401);
    const forbidden = await relay.api('GET', `/v1/threads/${id}`, tokens.mallory);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect((await relay.api('GET', `/v1/threads/${id}/messages`, tokens.mallory)).status).toBe(403);
    expect((await relay.api('GET', '/v1/threads/nope', tokens.alice)).status).toBe(404);
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.bob)).status).toBe(200);
    const bad = await relay.api('POST', '/v1/threads', tokens.alice, { participants: 'bob' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_REQUEST');
  });
});

describe('sequencing', () => {
  it('50 messages from one client arrive at the other with seqs 1..50', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    const sent = Array.from({ length: 50 }, (_, i) => a.send(`message ${i}`));
    await b.until(allCanon(b, sent.map((m) => m.id)), 'bob sees 50 canon entries');
    const order = canonicalOrder(b);
    expect(order.map((o) => o.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(order.map((o) => o.id)).toEqual(sent.map((m) => m.id));
    expect(b.roots.messages.length).toBe(50);
    const sentAts = order.map((o) => b.roots.canon.get(o.id)!.sentAt);
    expect([...sentAts].sort((x, y) => x - y)).toEqual(sentAts);
    expect(new Set(order.map((o) => b.roots.canon.get(o.id)!.state))).toEqual(new Set(['sent']));
  });

  it('offline composition on both sides merges with every message once and gap-free seqs', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    await offlineOnBothSides(id, (t, u) => client(t, u));
  });

  it("one user's offline messages from two tabs are sequenced in the order both tabs show", async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const tab1 = client(id, 'alice');
    await synced(tab1);
    // A second tab: its own Y.Doc (own client id) that shares changes with the first behind
    // the relay's back, as tabs do over BroadcastChannel while the relay is unreachable.
    const tab2 = new Y.Doc();
    Y.applyUpdate(tab2, Y.encodeStateAsUpdate(tab1.doc));
    tab1.provider.disconnect();
    tab1.doc.on('update', (u: Uint8Array, origin: unknown) => origin !== 'tab' && Y.applyUpdate(tab2, u, 'tab'));
    tab2.on('update', (u: Uint8Array, origin: unknown) => origin !== 'tab' && Y.applyUpdate(tab1.doc, u, 'tab'));
    const texts = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    const ids: string[] = [];
    texts.forEach((text, i) => {
      const doc = i % 2 === 0 ? tab1.doc : tab2;
      const messages = threadRoots(doc).messages;
      const m = { id: ulid(), authorId: 'alice', text, clientSentAt: Date.now() };
      messages.insert(messages.length, [m]);
      ids.push(m.id);
    });
    expect(tab1.roots.messages.toJSON().map((m) => m.text)).toEqual(texts);
    // Both tabs' messages reach the relay together, in one sync step 2.
    tab1.provider.connect();
    await tab1.until(allCanon(tab1, ids), 'canon for all six');
    expect(canonicalOrder(tab1).slice(-6).map((o) => o.id)).toEqual(ids);
    const bob = client(id, 'bob');
    await bob.until(allCanon(bob, ids), 'bob has all six');
    expect(canonicalOrder(bob)).toEqual(canonicalOrder(tab1));
    tab2.destroy();
  });

  it('the history API and the thread list agree with the documents', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob'], 'history');
    const a = client(id, 'alice');
    await synced(a);
    const sent = Array.from({ length: 30 }, (_, i) => a.send(`h${i}`, i === 3 ? { replyTo: 'x1' } : {}));
    await a.until(allCanon(a, sent.map((m) => m.id)), 'canon for 30');
    const page1 = await relay.api('GET', `/v1/threads/${id}/messages?limit=20`, tokens.bob);
    expect(page1.status).toBe(200);
    expect(page1.body.lastSeq).toBe(30);
    const page2 = await relay.api('GET', `/v1/threads/${id}/messages?afterSeq=20&limit=20`, tokens.bob);
    const all = [...page1.body.messages, ...page2.body.messages];
    expect(all.map((m: any) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const m of all) {
      const local = a.roots.messages.toJSON().find((x) => x.id === m.id)!;
      const canon = a.roots.canon.get(m.id)!;
      expect({ id: m.id, authorId: m.authorId, text: m.text, clientSentAt: m.clientSentAt, replyTo: m.replyTo }).toEqual({
        ...local,
        replyTo: local.replyTo,
      });
      expect({ seq: m.seq, sentAt: m.sentAt, state: m.state }).toEqual(canon);
    }
    const list = await relay.api('GET', '/v1/threads', tokens.bob);
    const t = list.body.threads.find((x: any) => x.id === id);
    expect(t.title).toBe('history');
    expect(t.lastSeq).toBe(30);
    expect(t.lastMessage.id).toBe(sent[29]!.id);
    expect(t.lastMessage.seq).toBe(30);
    expect((await relay.api('GET', `/v1/threads/${id}/messages?limit=abc`, tokens.bob)).status).toBe(400);
  });
});

describe('document registry', () => {
  it('unloads an idle document and reloads it intact', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    await synced(a);
    const sent = Array.from({ length: 5 }, (_, i) => a.send(`before unload ${i}`));
    await a.until(allCanon(a, sent.map((m) => m.id)), 'canon before unload');
    const from = relay.logs.length;
    a.provider.disconnect();
    await relay.waitForLog((l) => l.event === 'doc_unloaded' && l.threadId === id, 10_000, from);
    const b = client(id, 'bob');
    await b.until(allCanon(b, sent.map((m) => m.id)), 'bob gets the reloaded state');
    expect(canonicalOrder(b)).toEqual(canonicalOrder(a));
    expect(b.roots.messages.toJSON()).toEqual(a.roots.messages.toJSON());
    expect(relay.logs.some((l) => l.event === 'log_compacted' && l.threadId === id)).toBe(true);
    const next = b.send('after reload');
    await b.until(() => b.roots.canon.get(next.id)?.seq === 6, 'seq continues at 6');
  });
});
