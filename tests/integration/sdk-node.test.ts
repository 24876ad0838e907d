/**
 * The SDK in Node (fake-indexeddb, ws) against a real relay process: send, receive,
 * statuses, receipts, telemetry and sync states end to end.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, SkeinRequestError, type TelemetryEvent, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';
import { untilView as until } from '../helpers/sdk-node.ts';

let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relay = await startRelay();
  for (const u of ['alice', 'bob']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function client(userId: string, extra: { telemetry?: (e: TelemetryEvent) => void; revalidateIntervalMs?: number } = {}): Promise<SkeinClient> {
  const c = await createSkeinClient({
    relayUrl: relay.url,
    userId,
    getToken: () => tokens[userId]!,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    ...extra,
  });
  clients.push(c);
  return c;
}

/** Resolves when `pred(x)` holds, re-checking on each change `x` reports (a view or a client). */
describe('thread-list push', () => {
  it('a thread bob creates with alice, and its archiving, reach her list without any poll', async () => {
    const alice = await client('alice');
    await until(alice, (c) => c.threadPush === 'online', 'push channel up');
    // Nothing here calls refreshThreads(): only the relay's push can bring the thread in.
    const created = await relay.api('POST', '/v1/threads', tokens.bob, { title: 'pushed to alice', participants: ['alice'] });
    expect(created.status).toBe(201);
    await until(alice, (c) => c.threads().some((t) => t.id === created.body.id), 'the new thread in alice’s list');
    expect((await relay.api('POST', `/v1/threads/${created.body.id}/archive`, tokens.bob)).status).toBe(200);
    await until(alice, (c) => c.threads().find((t) => t.id === created.body.id)?.archived === true, 'archived in alice’s list');
  });

  it('refuses an events socket without a valid token with 4401, and any input with 4400', async () => {
    const url = relay.url.replace(/^http/, 'ws') + '/v1/events';
    const closeOf = (ws: WebSocket) => new Promise<number>((r) => ws.on('close', (code) => r(code)));
    expect(await closeOf(new WebSocket(`${url}?token=nope`))).toBe(4401);
    const ws = new WebSocket(`${url}?token=${tokens.alice}`);
    await new Promise((r) => ws.on('open', r));
    const closed = closeOf(ws);
    ws.send('hello');
    expect(await closed).toBe(4400);
  });
});

describe('SDK in Node against a real relay', () => {
  it('sends, receives in canonical order, derives statuses, receipts and telemetry', async () => {
    const events: TelemetryEvent[] = [];
    const alice = await client('alice', { telemetry: (e) => events.push(e) });
    const bob = await client('bob');
    const thread = await alice.createThread({ title: 'node', participants: ['bob'] });
    const a = alice.openThread(thread.id);
    const b = bob.openThread(thread.id);
    await Promise.all([a.ready, b.ready]);

    // Optimistic: the message shows as pending from the local append on (read in that very
    // transaction: by the time send() resolves the relay may well have answered already).
    let optimistic: string | undefined;
    const onAppend = () => (optimistic ??= a.messages.find((m) => m.text === 'hello')?.status);
    a.doc.on('afterTransaction', onAppend);
    const id1 = await a.send('hello');
    a.doc.off('afterTransaction', onAppend);
    expect(optimistic).toBe('pending');
    expect(a.messages.map((m) => m.id)).toEqual([id1]);
    const id2 = await b.send('hi');
    await until(a, (v) => v.messages.length === 2 && v.messages.every((m) => m.status === 'sent'), 'alice sees both sent');
    await until(b, (v) => v.messages.length === 2 && v.messages.every((m) => m.status === 'sent'), 'bob sees both sent');
    expect(a.messages.map((m) => m.id)).toEqual(b.messages.map((m) => m.id));
    expect(a.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(new Set([id1, id2])).toEqual(new Set(a.messages.map((m) => m.id)));
    // Mirroring is off on this relay: no AT state, messages stop at sent.
    expect(a.atVisible).toBe(false);
    expect(a.messages.every((m) => m.atUri === undefined)).toBe(true);

    await until(a, (v) => v.syncInfo.state === 'SYNCED', 'alice SYNCED');
    expect(a.syncInfo.lastKnownBackendSeq).toBe(2);
    expect(a.syncInfo.lastSyncedAt).toBeGreaterThan(0);

    // Receipts: bob reads alice's message; alice sees it and bob's read position.
    const first = a.messages[0]!;
    const second = a.messages[1]!;
    expect(b.unreadCount).toBe(1);
    const lastByOther = b.messages.filter((m) => !m.mine).at(-1)!;
    b.markRead(lastByOther.id);
    expect(b.unreadCount).toBe(0);
    await until(a, (v) => v.readers(lastByOther.id).some((r) => r.userId === 'bob'), 'alice sees bob read');
    expect(a.readUpTo('bob')).toBe(lastByOther.seq);
    expect([first.id, second.id]).toContain(lastByOther.id);

    // Telemetry: ids and timings, never the text.
    const names = events.map((e) => e.name);
    expect(names).toContain('message_send_optimistic_created');
    expect(names).toContain('message_sync_confirmed');
    expect(JSON.stringify(events)).not.toContain('hello');
  });

  it('a thread whose local copy misses messages goes OUT_OF_SYNC, resyncs and ends SYNCED', async () => {
    const alice = await client('alice');
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    // Bob writes 5 messages with a stock client while alice has nothing locally.
    const stock = connectClient(relay.wsUrl, id, tokens.bob!, 'bob');
    await synced(stock);
    const sent = Array.from({ length: 5 }, (_, i) => stock.send(`m${i}`));
    await stock.until(() => sent.every((m) => stock.roots.canon.has(m.id)), 'stock canon');
    stock.destroy();
    await alice.refreshThreads(); // lastSeq 5 is known before the thread is opened
    const view = alice.openThread(id);
    await view.ready;
    await until(view, (v) => v.syncInfo.state === 'SYNCED' && !v.syncInfo.isResyncing, 'SYNCED after resync');
    expect(view.syncHistory).toEqual(['UNKNOWN', 'OUT_OF_SYNC', 'SYNCED']);
    expect(view.resyncCount).toBe(1);
    expect(view.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('revalidates an open thread on its interval by fetching its row from the relay', async () => {
    const alice = await client('alice', { revalidateIntervalMs: 200 });
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const view = alice.openThread(id);
    await view.ready;
    await until(view, (v) => v.syncInfo.state === 'SYNCED', 'SYNCED');
    const realFetch = globalThis.fetch;
    let rowFetches = 0;
    let wake = () => {};
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (...args) => {
      const res = await realFetch(...args);
      if (String(args[0]).endsWith(`/v1/threads/${id}`)) {
        rowFetches++;
        wake();
      }
      return res;
    });
    try {
      // Nothing else asks for this thread's row while it sits idle and synced.
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${rowFetches} revalidation fetches`)), 20_000);
        wake = () => {
          if (rowFetches < 3) return;
          clearTimeout(t);
          resolve();
        };
      });
    } finally {
      spy.mockRestore();
    }
    expect(view.syncInfo.state).toBe('SYNCED');
    expect(view.syncInfo.lastKnownBackendSeq).toBe(0);
  });

  it('presence and typing reach the other member; retry() surfaces the relay error; capabilities are honest', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const t = await alice.createThread({ participants: ['bob'] });
    const a = alice.openThread(t.id);
    const b = bob.openThread(t.id);
    await until(a, (v) => v.syncInfo.connection === 'online', 'alice online');
    await until(b, (v) => v.syncInfo.connection === 'online', 'bob online');
    a.setPresence({ name: 'Alice' });
    a.setTyping(true);
    await until(b, (v) => v.presence.some((p) => p.userId === 'alice' && p.typing && p.state.name === 'Alice'), 'bob sees alice typing');
    a.setTyping(false);
    await until(b, (v) => v.presence.some((p) => p.userId === 'alice' && !p.typing), 'bob sees alice stop typing');

    const id = await a.send('retry me');
    // Retrying a message that did not fail (or, before the AT bridge lands, an unknown
    // route: 404) is refused, and the SDK surfaces the relay's status and code.
    const err = await a.retry(id).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(SkeinRequestError);
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(err.status).toBeLessThan(500);
    expect(typeof err.code).toBe('string');

    await vi.waitFor(() => expect(alice.capabilities()).not.toBeNull());
    expect(alice.capabilities()!.atproto.features.write_bridge).toBe(false);
    expect(a.atVisible).toBe(false);
    expect(a.atDegraded).toBe(false);
  });
});
