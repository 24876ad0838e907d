/**
 * Edits, deletions and reactions made offline while the thread rolls, and made in one tab
 * of two (docs/design/message-lifecycle.md, "Offline across a roll", "Tabs"): Node SDK
 * clients (fake-indexeddb, ws) against a real relay process that rolls every few messages.
 * Two clients of one user in this process share the local store (IndexedDB) and the tab
 * channel (BroadcastChannel), as the tabs of a browser do.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type SkeinClient, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { byId, gatedSocket, lifecycleState, reactionsOf, sendSequenced, untilView } from '../helpers/sdk-node.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const GENERATION_MESSAGES = 5;
let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relay = await startRelay({ SKEIN_GENERATION_MESSAGES: String(GENERATION_MESSAGES), SKEIN_ROLL_MIN_INTERVAL_MS: '0', SKEIN_MAX_MESSAGES_PER_SECOND: '1000', SKEIN_MESSAGE_BURST: '1000' });
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function client(userId: string, WS: typeof globalThis.WebSocket = WebSocket as unknown as typeof globalThis.WebSocket, relayUrl = relay.url): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl, userId, getToken: () => tokens[userId]!, WebSocketPolyfill: WS });
  clients.push(c);
  return c;
}

const until = (v: ThreadView, pred: (v: ThreadView) => boolean, what: string) => untilView(v, pred, what, 20_000, lifecycleState);

describe('SDK: lifecycle writes made offline across a generation roll', () => {
  it('an edit, a deletion, a reaction and a removed reaction made offline before two rolls apply after reconnect, each once', async () => {
    const gated = gatedSocket();
    const alice = await client('alice', gated.WS);
    const bob = await client('bob');
    const t = await alice.createThread({ title: 'offline across a roll', participants: ['bob', 'carol'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await Promise.all([a.ready, b.ready]);
    const [m1, m2] = await sendSequenced(a, 2, 'alice');
    const [b1] = await sendSequenced(b, 1, 'bob');
    await a.edit(m1!, 'edited online');
    await a.react(b1!, '👍');
    await a.react(b1!, '👀');
    await until(b, (v) => byId(v, m1!)?.text === 'edited online' && reactionsOf(v, b1!).length === 2, 'bob sees the online edit and reactions');

    gated.offline();
    await until(a, (v) => v.syncInfo.connection !== 'online', 'alice cut off');
    await a.edit(m1!, 'edited offline');
    await a.delete(m2!);
    await a.react(b1!, '🎉');
    await a.unreact(b1!, '👀');
    const p = await a.send('composed offline');
    await a.edit(p, 'composed offline, edited');
    // Meanwhile bob writes enough for two rolls; the generation alice wrote into is sealed.
    await sendSequenced(b, 9, 'bob');
    expect(b.generation.generation).toBeGreaterThanOrEqual(2);
    expect(a.generation.generation).toBe(0);

    gated.online();
    const applied = (v: ThreadView) =>
      byId(v, m1!)?.text === 'edited offline' &&
      byId(v, m2!)?.redacted === true &&
      byId(v, p)?.seq !== undefined &&
      byId(v, p)?.text === 'composed offline, edited' &&
      reactionsOf(v, b1!).join(' ') === '👍:alice 🎉:alice';
    await until(a, (v) => v.generation.generation >= 2 && applied(v), 'alice rebased with her offline writes');
    await until(b, applied, 'bob sees alice’s offline writes');
    // Each revision once (sealed messages show their row's text first, then the revisions).
    expect(b.versions(m1!).slice(1).map((x) => x.text)).toEqual(['edited online', 'edited offline']);
    expect(b.versions(p).map((x) => x.text)).toEqual(['composed offline', 'composed offline, edited']);
    // A member opening the thread now (nothing local) sees the same.
    const carol = await client('carol');
    const c = carol.openThread(t.id);
    await until(c, applied, 'carol sees alice’s offline writes');
    // The relay's rows agree: the current text, the deletion.
    const page = await relay.api('GET', `/v1/threads/${t.id}/messages?afterSeq=0&limit=100`, tokens.carol);
    expect(page.body.messages.find((m: any) => m.id === m1)).toMatchObject({ text: 'edited offline' });
    expect(page.body.messages.find((m: any) => m.id === m2)).toMatchObject({ redacted: true, text: '' });
    // Another roll carries them on, still once each; alice stayed connected throughout.
    await sendSequenced(b, GENERATION_MESSAGES, 'more');
    await until(a, (v) => v.generation.generation >= 3 && applied(v), 'alice after one more roll');
    await until(b, applied, 'bob after one more roll');
    expect(b.versions(m1!).slice(1).map((x) => x.text)).toEqual(['edited online', 'edited offline']);
    expect(a.refused).toBeNull();
  });

  it("the relay serves a sealed generation's state vector, to members only", async () => {
    const bob = await client('bob');
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const b = bob.openThread(id);
    await b.ready;
    await sendSequenced(b, GENERATION_MESSAGES, 'bob');
    await until(b, (v) => v.generation.generation === 1, 'rolled');
    const r = await relay.api('GET', `/v1/threads/${id}/generations/0/state`, tokens.bob);
    expect(r.status).toBe(200);
    expect(Y.decodeStateVector(Buffer.from(r.body.stateVector, 'base64')).size).toBeGreaterThan(0);
    expect((await relay.api('GET', `/v1/threads/${id}/generations/1/state`, tokens.bob)).status).toBe(404); // live
    expect((await relay.api('GET', `/v1/threads/${id}/generations/0/state`, tokens.carol)).status).toBe(403);
  });

  it('a reaction removed on another device while this one was offline stays removed when this one moves out of its older generation', async () => {
    // The other device: the same user through another origin, so it has its own local store.
    const proxy = await startTcpProxy(relay.port);
    const gated = gatedSocket();
    const laptop = await client('frank', gated.WS);
    const phone = await client('frank', WebSocket as unknown as typeof globalThis.WebSocket, `http://127.0.0.1:${proxy.port}`);
    const t = await laptop.createThread({ title: 'two devices', participants: ['carol'] });
    const l = laptop.openThread(t.id);
    const p = phone.openThread(t.id);
    await Promise.all([l.ready, p.ready]);
    const [m] = await sendSequenced(l, 1, 'frank');
    await l.react(m!, '👍');
    await l.react(m!, '👀');
    await until(p, (v) => reactionsOf(v, m!).join(' ') === '👍:frank 👀:frank', 'the phone sees both');

    gated.offline();
    await until(l, (v) => v.syncInfo.connection !== 'online', 'laptop cut off');
    await l.react(m!, '🎉'); // never reached the relay
    await p.unreact(m!, '👍'); // the relay has this removal
    await sendSequenced(p, 9, 'phone'); // two rolls
    gated.online();
    const expected = (v: ThreadView) => reactionsOf(v, m!).join(' ') === '👀:frank 🎉:frank';
    await until(l, (v) => v.generation.generation >= 2 && expected(v), 'the laptop moved: its offline reaction, not the removed one');
    await until(p, expected, 'the phone agrees');
    await proxy.close();
  });
});

describe('SDK: lifecycle writes with two tabs', () => {
  it('what one tab edits, deletes and reacts the other shows, online and offline; made offline, it reaches the relay across a roll', async () => {
    const gated = gatedSocket();
    // Two clients of dave in this process: one local store, one tab channel, as two tabs.
    const tab1 = await client('dave', gated.WS);
    const tab2 = await client('dave', gated.WS);
    const erin = await client('erin');
    const t = await tab1.createThread({ title: 'two tabs', participants: ['erin'] });
    const v1 = tab1.openThread(t.id);
    const v2 = tab2.openThread(t.id);
    const b = erin.openThread(t.id);
    await Promise.all([v1.ready, v2.ready, b.ready]);
    const [m1, m2, m3, m4] = await sendSequenced(v1, 4, 'dave');
    await until(v2, (v) => [m1, m2, m3, m4].every((id) => byId(v, id!)?.seq !== undefined), 'tab 2 has them');

    // Online: tab 1 writes; tab 2 and erin show it.
    await v1.edit(m1!, 'edited in tab 1');
    await v1.react(m2!, '👍');
    await v1.delete(m3!);
    const online = (v: ThreadView) => byId(v, m1!)?.text === 'edited in tab 1' && reactionsOf(v, m2!).join(' ') === '👍:dave' && byId(v, m3!)?.redacted === true;
    await until(v2, online, 'tab 2 shows tab 1’s writes');
    await until(b, online, 'erin shows tab 1’s writes');

    // Offline (both tabs): tab 2 writes; tab 1 shows it at once, through the tab channel.
    gated.offline();
    await until(v1, (v) => v.syncInfo.connection !== 'online', 'tab 1 cut off');
    await until(v2, (v) => v.syncInfo.connection !== 'online', 'tab 2 cut off');
    await v2.edit(m1!, 'edited offline in tab 2');
    await v2.unreact(m2!, '👍');
    await v2.react(m2!, '🎉');
    await v2.delete(m4!);
    const offline = (v: ThreadView) =>
      byId(v, m1!)?.text === 'edited offline in tab 2' && reactionsOf(v, m2!).join(' ') === '🎉:dave' && byId(v, m3!)?.redacted === true && byId(v, m4!)?.redacted === true;
    await until(v1, offline, 'tab 1 shows tab 2’s offline writes');
    expect(byId(b, m1!)?.text).toBe('edited in tab 1'); // not yet: dave is offline

    // Meanwhile the thread rolls; both tabs move and carry the same writes: each lands once.
    await sendSequenced(b, 6, 'erin');
    expect(b.generation.generation).toBeGreaterThanOrEqual(1);
    gated.online();
    await until(b, offline, 'erin sees tab 2’s offline writes');
    for (const v of [v1, v2]) await until(v, (x) => x.generation.generation === b.generation.generation && offline(x), 'each tab in the live generation');
    expect(b.versions(m1!).slice(1).map((x) => x.text)).toEqual(['edited in tab 1', 'edited offline in tab 2']);
    expect([v1.refused, v2.refused]).toEqual([null, null]);
  });
});
