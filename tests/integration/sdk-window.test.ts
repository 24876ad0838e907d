/**
 * Windowed threads in the SDK (Node, fake-indexeddb, ws) against a real relay that rolls a
 * thread's live document every few messages: a view follows the live generation, a view
 * that composed offline while the thread rolled rebases (every message once, seqs gap-free),
 * and a cold view pages back across generations.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, type TelemetryEvent, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { gatedSocket, sendSequenced, untilView } from '../helpers/sdk-node.ts';

const GENERATION_MESSAGES = 5;
let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relay = await startRelay({ SKEIN_GENERATION_MESSAGES: String(GENERATION_MESSAGES), SKEIN_ROLL_MIN_INTERVAL_MS: '0', SKEIN_MAX_MESSAGES_PER_SECOND: '1000', SKEIN_MESSAGE_BURST: '1000' });
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'gus']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function client(userId: string, WS: typeof globalThis.WebSocket = WebSocket as unknown as typeof globalThis.WebSocket, telemetry?: (e: TelemetryEvent) => void): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl: relay.url, userId, getToken: () => tokens[userId]!, WebSocketPolyfill: WS, telemetry });
  clients.push(c);
  return c;
}

const until = (v: ThreadView, pred: (v: ThreadView) => boolean, what: string) =>
  untilView(v, pred, what, 20_000, (x) => `seqs ${JSON.stringify(x.messages.map((m) => m.seq))}, generation ${x.generation.generation}`);

const seqsOf = (v: ThreadView) => v.messages.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('windowed threads in the SDK', () => {
  it('follows the live generation while online: every message once, seqs gap-free, SYNCED', async () => {
    const bob = await client('bob');
    const { id } = await relay.createThread(tokens.bob!, ['alice']);
    const b = bob.openThread(id);
    await b.ready;
    await sendSequenced(b, 12, 'online');
    expect(b.generation.generation).toBeGreaterThanOrEqual(2);
    await until(b, (v) => v.syncInfo.state === 'SYNCED', 'SYNCED');
    await until(b, (v) => v.messages.length === 12, '12 messages');
    expect(seqsOf(b)).toEqual(range(1, 12));
    const row = await relay.api('GET', `/v1/threads/${id}`, tokens.bob);
    expect(b.generation.liveDoc).toBe(row.body.liveDoc);
  });

  it('a view that composed offline while the thread rolled delivers each message exactly once', async () => {
    const gated = gatedSocket();
    const events: TelemetryEvent[] = [];
    const alice = await client('alice', gated.WS, (e) => events.push(e));
    const bob = await client('bob');
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = alice.openThread(id);
    const b = bob.openThread(id);
    await Promise.all([a.ready, b.ready]);
    await sendSequenced(a, 2, 'before');
    expect(a.generation.generation).toBe(0);

    gated.offline();
    // Cut off: 'offline' between attempts, or 'connecting' while an attempt to the dead port
    // hangs (reconnects are jittered now, and such an attempt may outlast the wait). Either way
    // nothing alice writes can reach the relay.
    await until(a, (v) => v.syncInfo.connection !== 'online', 'alice cut off from the relay');
    const offline = [await a.send('offline 1'), await a.send('offline 2'), await a.send('offline 3')];
    // Meanwhile bob writes enough for two rolls.
    await sendSequenced(b, 9, 'bob');
    expect(b.generation.generation).toBeGreaterThanOrEqual(2);
    expect(a.generation.generation).toBe(0);

    gated.online();
    await until(a, (v) => v.generation.generation >= 2 && v.messages.filter((m) => m.seq !== undefined).length === 14, 'alice rebased, 14 canonical');
    await until(a, (v) => v.syncInfo.state === 'SYNCED', 'alice SYNCED');
    const ids = a.messages.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(seqsOf(a)).toEqual(range(1, 14));
    for (const o of offline) expect(ids.filter((x) => x === o)).toHaveLength(1);
    expect(a.rebaseCount).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.name === 'thread_generation_rebased' && e.reappended === 3)).toBe(true);

    // The relay holds each message once, seqs 1..14 with no gap.
    const all = await relay.api('GET', `/v1/threads/${id}/messages?afterSeq=0&limit=100`, tokens.bob);
    expect(all.body.messages.map((m: { seq: number }) => m.seq)).toEqual(range(1, 14));
    expect(new Set(all.body.messages.map((m: { id: string }) => m.id)).size).toBe(14);
    await until(b, (v) => v.messages.length === 14, 'bob sees 14');
    expect(b.messages.map((m) => m.id)).toEqual(ids);
  });

  it('a cold view shows the newest page and pages back across generations with loadOlder', async () => {
    const dave = await client('dave');
    const { id } = await relay.createThread(tokens.dave!, ['carol']);
    const d = dave.openThread(id);
    await d.ready;
    const early = await sendSequenced(d, 3, 'paged early');
    // Read in generation 0: sealed at the roll, the relay folds the receipt into its rows.
    d.markRead(early[1]!);
    await sendSequenced(d, 20, 'paged');
    await until(d, (v) => v.syncInfo.state === 'SYNCED', 'dave SYNCED');
    // Dave reads the 20th: carol's view sees his read position though it is sealed history.
    d.markRead(d.messages.find((m) => m.seq === 20)!.id);

    const carol = await client('carol');
    await carol.refreshThreads();
    const c = carol.openThread(id);
    await c.ready;
    expect(c.generation.generation).toBeGreaterThanOrEqual(4);
    await until(c, (v) => v.syncInfo.state === 'SYNCED', 'carol SYNCED');
    await until(c, (v) => v.messages.length === 23, 'the newest page (all 23 here)');
    expect(seqsOf(c)).toEqual(range(1, 23));
    expect(c.hasOlder).toBe(false);
    await until(c, (v) => v.readUpTo('dave') >= 20, 'dave read up to 20');
    // Who read an old message: the relay's folded receipt, served with the history page.
    expect(c.readers(early[1]!).map((r) => r.userId)).toEqual(['dave']);
  });

  it('a first open of a rolled thread (not listed yet) connects straight to the live generation', async () => {
    const dave = await client('dave');
    // Erin has no client yet: no other view of hers has this thread cached (listed).
    const { id } = await relay.createThread(tokens.dave!, ['erin']);
    const d = dave.openThread(id);
    await d.ready;
    await sendSequenced(d, 12, 'rolled');
    const live = (await relay.api('GET', `/v1/threads/${id}`, tokens.dave!)).body as { generation: number };
    expect(live.generation).toBeGreaterThanOrEqual(2);
    const erin = await client('erin');
    const from = relay.logs.length;
    const c = erin.openThread(id); // no refreshThreads: the view asks the relay where to go
    await until(c, (v) => v.syncInfo.state === 'SYNCED' && v.messages.length === 12, 'erin SYNCED with all 12');
    expect(c.generation.generation).toBe(live.generation);
    expect(seqsOf(c)).toEqual(range(1, 12));
    // Not one connection to a sealed generation (each would be refused with 4410).
    const sealed = relay.logs.slice(from).filter((l) => l.userId === 'erin' && l.threadId === id && (l.code === 4410 || l.event === 'ws_refused'));
    expect(sealed).toEqual([]);
  });

  it('read position and unread count stay exact when they point below the window (the relay counts and looks up)', async () => {
    const dave = await client('dave');
    const gusOld = await client('gus');
    const { id } = await relay.createThread(tokens.dave!, ['gus']);
    const d = dave.openThread(id);
    const g = gusOld.openThread(id);
    await Promise.all([d.ready, g.ready]);
    // 70 messages, every third by gus: many generations, more than the first page of history.
    const authorOf = new Map<string, string>();
    for (let i = 0; i < 70; i++) {
      const [mid] = await sendSequenced(i % 3 === 2 ? g : d, 1, `mixed ${i}`);
      authorOf.set(mid!, i % 3 === 2 ? 'gus' : 'dave');
    }
    await until(g, (v) => v.messages.filter((m) => m.seq !== undefined).length === 70, 'gus holds all 70');
    // Gus read message 5 only, long after it was sealed: the receipt is in the live document.
    const fifth = g.messages.find((m) => m.seq === 5)!;
    expect(g.markRead(fifth.id)).toBe(true);
    await until(d, (v) => v.readUpTo('gus') === 5, 'the receipt reached the relay');
    const seqAuthor = g.messages.map((m) => [m.seq!, authorOf.get(m.id)!] as const);
    const exact = seqAuthor.filter(([seq, a]) => seq > 5 && a !== 'gus').length;
    await gusOld.signOut(); // nothing of this thread is left on the device

    const gusNew = await client('gus');
    await gusNew.refreshThreads();
    const fresh = gusNew.openThread(id);
    await until(fresh, (v) => v.syncInfo.state === 'SYNCED' && v.messages.length > 0, 'the new device SYNCED');
    const lowest = fresh.messages[0]!.seq!;
    expect(lowest).toBeGreaterThan(6); // message 5 (and some of gus's own after it) are not held
    const ownInGap = seqAuthor.filter(([seq, a]) => seq > 5 && seq < lowest && a === 'gus').length;
    expect(ownInGap).toBeGreaterThan(0); // so an upper bound would be wrong
    await until(fresh, (v) => v.readUpTo('gus') === 5, 'read position from a message the device does not hold');
    await until(fresh, (v) => v.unreadCount === exact, `unread exactly ${exact}`);
    expect(fresh.messages[0]!.seq).toBe(lowest); // counted by the relay, not by paging everything in
  });

  it('loadOlder pages from the relay in small pages, in order, without gaps or doubles', async () => {
    const dave = await client('dave');
    const { id } = await relay.createThread(tokens.dave!, ['carol']);
    const d = dave.openThread(id);
    await d.ready;
    await sendSequenced(d, 67, 'page');
    const carol = await client('carol');
    await carol.refreshThreads();
    const c = carol.openThread(id);
    await c.ready;
    await until(c, (v) => v.syncInfo.state === 'SYNCED' && v.messages.length > 0, 'carol SYNCED');
    const base = c.generation.baseSeq;
    expect(base).toBeGreaterThanOrEqual(65);
    // The first page of sealed history is 50 messages, then pages of 7.
    await until(c, (v) => v.messages.length >= 50, 'the first page');
    expect(c.hasOlder).toBe(true);
    let pages = 0;
    while (c.hasOlder) {
      const lowest = c.messages[0]!.seq!;
      const n = await c.loadOlder(7);
      expect(n).toBeGreaterThan(0);
      expect(c.messages[0]!.seq).toBe(lowest - n);
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seqsOf(c)).toEqual(range(1, 67));
    expect(c.latest(4).map((m) => m.seq)).toEqual([64, 65, 66, 67]);
  });
});
