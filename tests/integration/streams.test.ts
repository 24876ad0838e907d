/**
 * Streamed replies against a real relay process: the SDK in Node for the author and a
 * reader on another "device", stock y-websocket clients for hostile writes.
 */
import 'fake-indexeddb/auto';
import { ulid } from 'ulid';
import * as Y from 'yjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, type ThreadView, createSkeinClient } from '../../client/index.ts';
import type { StreamEntry } from '../../shared/stream.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';
import { untilView as until } from '../helpers/sdk-node.ts';

let relay: RelayProcess;
const sdks: SkeinClient[] = [];
const raw: TestClient[] = [];
const tokens: Record<string, string> = {};

beforeAll(async () => {
  relay = await startRelay({ SKEIN_STREAM_IDLE_MS: '2000', SKEIN_MAX_STREAM_BYTES: '2000', SKEIN_MAX_OPEN_STREAMS: '2' });
  for (const u of ['alice', 'bob', 'mallory']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  raw.forEach((c) => c.destroy());
  await Promise.all(sdks.map((c) => c.close().catch(() => {})));
  await relay?.stop();
});

async function sdk(userId: string): Promise<SkeinClient> {
  const c = await createSkeinClient({
    relayUrl: relay.url,
    userId,
    getToken: () => tokens[userId]!,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  sdks.push(c);
  return c;
}

function rawClient(threadId: string, user: string): TestClient {
  const c = connectClient(relay.wsUrl, threadId, tokens[user]!, user);
  raw.push(c);
  return c;
}

async function thread(): Promise<string> {
  return (await relay.createThread(tokens.alice!, ['bob', 'mallory'], 'streams')).id;
}

describe('streamed replies', () => {
  it('grows live on another device, then finish() makes it one message with a seq', async () => {
    const id = await thread();
    const [alice, bob] = [await sdk('alice'), await sdk('bob')];
    const a = alice.openThread(id);
    const b = bob.openThread(id);
    await Promise.all([a.ready, b.ready]);
    const s = a.startStream();
    s.append('Hello');
    await until(b, (v) => v.streams.some((x) => x.id === s.id && x.text === 'Hello' && x.status === 'streaming'), 'first chunk on the other device');
    for (const w of [', wor', 'ld', '!']) s.append(w);
    await until(b, (v) => v.streams.find((x) => x.id === s.id)?.text === 'Hello, world!', 'all chunks');
    expect(b.streams[0]).toMatchObject({ authorId: 'alice', mine: false });
    expect(b.messages).toEqual([]); // no seq, no message, no receipt target while streaming
    expect(b.unreadCount).toBe(0); // a stream is not unread
    expect(b.syncInfo.lastKnownBackendSeq ?? 0).toBe(0);

    expect(await s.finish()).toBe(s.id);
    expect(s.status).toBe('finished');
    await until(b, (v) => v.messages.some((m) => m.id === s.id && m.seq === 1), 'finished message sequenced');
    expect(b.streams).toEqual([]);
    expect(b.messages.map((m) => [m.id, m.text, m.authorId])).toEqual([[s.id, 'Hello, world!', 'alice']]);
    expect(() => s.append('more')).toThrow(/finished/);
    const listed = (await relay.api('GET', `/v1/threads/${id}/messages`, tokens.alice)).body.messages;
    expect(listed.map((m: { id: string; seq: number }) => [m.id, m.seq])).toEqual([[s.id, 1]]);
  });

  it('abort() and an author who goes away both leave a final interrupted stream with the text so far', async () => {
    const id = await thread();
    const bob = await sdk('bob');
    const b = bob.openThread(id);
    await b.ready;

    const alice = await sdk('alice');
    const a = alice.openThread(id);
    await a.ready;
    const aborted = a.startStream();
    aborted.append('Let me think');
    await until(b, (v) => v.streams.some((x) => x.id === aborted.id && x.text === 'Let me think'), 'text before abort');
    aborted.abort('user-cancel');
    await until(b, (v) => v.streams.find((x) => x.id === aborted.id)?.status === 'interrupted', 'aborted');
    expect(b.streams.find((x) => x.id === aborted.id)).toMatchObject({ text: 'Let me think', reason: 'aborted:user-cancel' });
    expect(() => aborted.append('x')).toThrow(/interrupted/);

    const gone = a.startStream();
    gone.append('Half an ans');
    await until(b, (v) => v.streams.some((x) => x.id === gone.id && x.text === 'Half an ans'), 'text before the author leaves');
    await alice.close(); // the tab closes mid-stream
    await until(b, (v) => v.streams.find((x) => x.id === gone.id)?.status === 'interrupted', 'interrupted by the relay');
    expect(b.streams.find((x) => x.id === gone.id)).toMatchObject({ text: 'Half an ans', reason: 'idle' });
    expect(b.messages).toEqual([]);
  });

  it('an author who starts and aborts streams in a loop keeps at most the open-stream limit of interrupted ones: the document stays small', async () => {
    const id = await thread();
    const [alice, bob] = [await sdk('alice'), await sdk('bob')];
    const a = alice.openThread(id);
    const b = bob.openThread(id);
    await Promise.all([a.ready, b.ready]);
    const started: string[] = [];
    for (let round = 0; round < 15; round++) {
      const pair = [a.startStream(), a.startStream()];
      for (const st of pair) {
        st.append(`${round} ${'w'.repeat(1500)}`);
        started.push(st.id);
      }
      await until(b, (v) => pair.every((st) => v.streams.some((x) => x.id === st.id)), `round ${round} reached bob`);
      for (const st of pair) st.abort('churn');
      await until(a, (v) => pair.every((st) => v.streams.find((x) => x.id === st.id)?.status !== 'streaming'), `round ${round} aborted`);
    }
    const honestId = await b.send('still here');
    const last = started.slice(-2).sort();
    await until(b, (v) => v.streams.map((x) => x.id).sort().join() === last.join(), 'only the newest two interrupted streams are kept');
    await until(b, (v) => v.messages.some((m) => m.id === honestId && m.seq !== undefined), 'an honest message is sequenced meanwhile');
    // A new member's full sync: 30 streams of 1.5 KB were written; two remain.
    const fresh = rawClient(id, 'mallory');
    await synced(fresh);
    expect(Y.encodeStateAsUpdate(fresh.doc).byteLength).toBeLessThan(12_000);
    expect(a.refused).toBeNull();
  });

  it('a stream started and finished offline arrives as its message when the author connects', async () => {
    const id = await thread();
    const Y = await import('yjs');
    const { threadRoots } = await import('../../shared/schema.ts');
    const doc = new Y.Doc();
    const roots = threadRoots(doc);
    const sid = ulid();
    // Written with no connection: the entry is created, grown and removed before the relay sees any of it.
    for (const t of ['Off', 'Offline ', 'Offline answer']) roots.streams.set(sid, { authorId: 'alice', startedAt: 1, text: t, status: 'streaming' });
    const open = ulid();
    roots.streams.set(open, { authorId: 'alice', startedAt: 2, text: 'left open', status: 'streaming' });
    doc.transact(() => {
      roots.messages.push([{ id: sid, authorId: 'alice', text: 'Offline answer', clientSentAt: Date.now() }]);
      roots.streams.delete(sid);
    });
    const c = connectClient(relay.wsUrl, id, tokens.alice!, 'alice', doc);
    raw.push(c);
    await c.until(() => c.roots.canon.has(sid), 'the offline stream’s message sequenced');
    expect(c.closes).toEqual([]);
    // The one left open is the author's to go on with; nobody writes it, so the relay ends it.
    await c.until(() => c.roots.streams.get(open)?.status === 'interrupted', 'left-open stream interrupted');
  });

  it('lists its stream limits in capabilities', async () => {
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.limits).toMatchObject({ maxStreamBytes: 2000, maxOpenStreams: 2, streamIdleMs: 2000 });
  });

  it('refuses hostile stream writes with the documented close codes; others see nothing of them', async () => {
    const id = await thread();
    const bob = await sdk('bob');
    const b = bob.openThread(id);
    await b.ready;
    const alice = rawClient(id, 'alice');
    await synced(alice);
    const sid = ulid();
    const entry = (text: string, over: Partial<StreamEntry> = {}): StreamEntry => ({ authorId: 'alice', startedAt: 1, text, status: 'streaming', ...over });
    alice.doc.transact(() => alice.roots.streams.set(sid, entry('Answer: ')));
    await until(b, (v) => v.streams.some((x) => x.id === sid), 'alice’s stream');
    // A live author keeps writing: without it the relay would end her stream as idle while the
    // hostile clients below take their time on a busy machine (same text: a write that adds nothing).
    const beat = () => alice.doc.transact(() => alice.roots.streams.set(sid, entry('Answer: ')));
    let heartbeat = setInterval(beat, 150);

    const attempts: Array<[string, (c: TestClient) => void, number]> = [
      ['writing into another user’s stream', (c) => c.roots.streams.set(sid, entry('Answer: pwned')), 4402],
      ['starting a stream as someone else', (c) => c.roots.streams.set(ulid(), entry('x')), 4402],
      ['claiming the relay’s idle interruption', (c) => c.roots.streams.set(ulid(), entry('x', { authorId: 'mallory', status: 'interrupted', reason: 'idle' })), 4402],
      ['a stream over the size limit', (c) => c.roots.streams.set(ulid(), entry('x'.repeat(2001), { authorId: 'mallory' })), 4413],
      ['removing another user’s stream', (c) => c.roots.streams.delete(sid), 4402],
    ];
    for (const [what, write, code] of attempts) {
      const removing = what.startsWith('removing');
      // Deleting an entry the author has replaced meanwhile changes nothing (and is accepted):
      // the heartbeat pauses, so mallory deletes the entry as it is on the relay.
      if (removing) clearInterval(heartbeat);
      const m = rawClient(id, 'mallory');
      await synced(m);
      if (removing) await m.until(() => sameItem(m.roots.streams, alice.roots.streams, sid), 'mallory holds alice’s latest entry');
      const closed = m.nextClose();
      m.doc.transact(() => write(m));
      expect((await closed).code, what).toBe(code);
      m.destroy();
      if (removing) heartbeat = setInterval(beat, 150);
    }
    // The author: rewriting the text so far, removing it without finishing, too many open streams.
    const rewrite = rawClient(id, 'alice');
    await synced(rewrite);
    let closed = rewrite.nextClose();
    rewrite.doc.transact(() => rewrite.roots.streams.set(sid, entry('Question: ')));
    expect((await closed).code).toBe(4402);
    // As for mallory above: a deletion of an entry the heartbeat has replaced meanwhile changes
    // nothing and is accepted, so the heartbeat pauses until this client holds the latest one.
    clearInterval(heartbeat);
    const remove = rawClient(id, 'alice');
    await synced(remove);
    await remove.until(() => sameItem(remove.roots.streams, alice.roots.streams, sid), 'the second client holds the latest entry');
    closed = remove.nextClose();
    remove.doc.transact(() => remove.roots.streams.delete(sid));
    expect((await closed).code).toBe(4402);
    heartbeat = setInterval(beat, 150);
    const many = rawClient(id, 'alice');
    await synced(many);
    closed = many.nextClose();
    many.doc.transact(() => {
      many.roots.streams.set(ulid(), entry('two'));
      many.roots.streams.set(ulid(), entry('three'));
    });
    expect((await closed).code).toBe(4402);

    // Writing into a stream after it was finished (its id is a message now), and flooding.
    const finished = rawClient(id, 'mallory');
    await synced(finished);
    const doneId = ulid();
    finished.doc.transact(() => finished.roots.streams.set(doneId, entry('done', { authorId: 'mallory' })));
    finished.doc.transact(() => {
      finished.roots.messages.push([{ id: doneId, authorId: 'mallory', text: 'done', clientSentAt: Date.now() }]);
      finished.roots.streams.delete(doneId);
    });
    await until(b, (v) => v.messages.some((m) => m.id === doneId), 'mallory’s finished stream');
    closed = finished.nextClose();
    finished.doc.transact(() => finished.roots.streams.set(doneId, entry('done, and more', { authorId: 'mallory' })));
    expect((await closed).code).toBe(4402);
    const flood = rawClient(id, 'mallory');
    await synced(flood);
    closed = flood.nextClose();
    const floodId = ulid();
    for (let i = 0; i < 400; i++) flood.doc.transact(() => flood.roots.streams.set(floodId, entry('x'.repeat(i), { authorId: 'mallory' })));
    expect((await closed).code).toBe(4529);

    // Alice's real stream is untouched, and still hers to finish.
    expect(b.streams.filter((x) => x.id !== floodId).map((x) => [x.id, x.text])).toEqual([[sid, 'Answer: ']]);
    const fine = rawClient(id, 'alice');
    await synced(fine);
    clearInterval(heartbeat);
    fine.doc.transact(() => fine.roots.streams.set(sid, entry('Answer: 42')));
    await until(b, (v) => v.streams.some((x) => x.text === 'Answer: 42'), 'the author’s own append');
    fine.doc.transact(() => {
      fine.roots.messages.push([{ id: sid, authorId: 'alice', text: 'Answer: 42', clientSentAt: Date.now() }]);
      fine.roots.streams.delete(sid);
    });
    await until(b, (v) => v.messages.some((m) => m.id === sid && m.seq !== undefined) && !v.streams.some((x) => x.id === sid), 'finished by a stock client');
    // What the flood got in before it was cut is mallory's own stream, ended by the relay.
    await until(b, (v) => v.streams.find((x) => x.id === floodId)?.status === 'interrupted', 'the flooded stream interrupted');
  });
});

describe('the demo bot (SKEIN_DEMO_BOT, on under npm start)', () => {
  it('answers a new message in a thread it is a member of with a streamed reply that becomes a message', async () => {
    const botRelay = await startRelay({ SKEIN_DEMO_BOT: '1' });
    try {
      await botRelay.waitForLog((l) => l.event === 'demo_bot_started');
      const token = await botRelay.token('alice');
      const { id } = await botRelay.createThread(token, ['skein-bot'], 'ask the bot');
      const c = connectClient(botRelay.wsUrl, id, token, 'alice');
      raw.push(c);
      await synced(c);
      const asked = c.send('what is streaming?').id;
      const seen: string[] = [];
      c.roots.streams.observe(() => {
        for (const e of c.roots.streams.values()) if (e.authorId === 'skein-bot' && e.status === 'streaming') seen.push(e.text);
      });
      await c.until(() => c.roots.messages.toArray().some((m) => m.authorId === 'skein-bot' && c.roots.canon.has(m.id)), 'the bot’s reply sequenced', 30_000);
      const reply = c.roots.messages.toArray().find((m) => m.authorId === 'skein-bot')!;
      expect(reply.replyTo).toBe(asked);
      expect(reply.text).toMatch(/^Hi! I am skein-bot/);
      // It grew in many steps before it became the message.
      expect(new Set(seen).size).toBeGreaterThan(5);
      expect(seen.every((t) => reply.text.startsWith(t.trimEnd()))).toBe(true);
      expect(c.roots.streams.size).toBe(0);
      expect(botRelay.rawLog.join('\n')).not.toContain('what is streaming');
    } finally {
      await botRelay.stop();
    }
  });
});

/** True when both maps hold the very same Yjs item under `key` (not only an equal value). */
function sameItem<T>(a: Y.Map<T>, b: Y.Map<T>, key: string): boolean {
  const ia = (a as unknown as { _map: Map<string, { id: Y.ID }> })._map.get(key)?.id;
  const ib = (b as unknown as { _map: Map<string, { id: Y.ID }> })._map.get(key)?.id;
  return !!ia && !!ib && ia.client === ib.client && ia.clock === ib.clock;
}
