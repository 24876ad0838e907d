/**
 * Issue 28: the SDK holds no socket for a thread no view has open. Closing a view closes its
 * sync socket (the relay's `skein_ws_connections{socket="sync"}` gauge goes back down), also
 * when the view is closed while it is still connecting (ticket fetch, early socket), and the
 * SDK opens none for threads it merely lists. Real relay process; every socket the SDK opens
 * is recorded through its WebSocket class.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, createSkeinClient } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';

let relay: RelayProcess;
let token: string;
let alice: SkeinClient;
/** Every socket the SDK opened, with its URL and a promise of its close. */
const opened: Array<{ url: string; ws: WebSocket; closed: Promise<void> }> = [];

beforeAll(async () => {
  relay = await startRelay();
  token = await relay.token('alice');
  const Recording = function (url: string, protocols?: string | string[]) {
    const ws = new WebSocket(url, protocols);
    ws.on('error', () => {});
    opened.push({ url, ws, closed: new Promise<void>((r) => (ws.readyState === WebSocket.CLOSED ? r() : ws.once('close', () => r()))) });
    return ws;
  } as unknown as typeof globalThis.WebSocket;
  alice = await createSkeinClient({ relayUrl: relay.url, userId: 'alice', getToken: () => token, WebSocketPolyfill: Recording });
});
afterAll(async () => {
  await alice?.close();
  await relay?.stop();
});

async function syncGauge(): Promise<number> {
  const text = await (await fetch(relay.url + '/metrics')).text();
  return Number(/^skein_ws_connections\{socket="sync"\} (\d+)$/m.exec(text)![1]);
}

/** Polls the relay's gauge (it has no event to await) until it reads `n`. */
async function gaugeIs(n: number): Promise<void> {
  const end = Date.now() + 30_000;
  while ((await syncGauge()) !== n) {
    if (Date.now() > end) throw new Error(`sync gauge never read ${n} (now ${await syncGauge()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer!: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const socketsOf = (threadId: string) => opened.filter((o) => new URL(o.url).pathname.startsWith(`/v1/sync/${threadId}`));

function online(view: ReturnType<SkeinClient['openThread']>): Promise<void> {
  return new Promise((resolve) => {
    if (view.syncInfo.connection === 'online') return resolve();
    const off = view.subscribe(() => {
      if (view.syncInfo.connection !== 'online') return;
      off();
      resolve();
    });
  });
}

it('listing threads opens no sync socket; opening a view opens one; closing it closes it at the relay', async () => {
  const threads = await Promise.all([0, 1, 2].map((i) => relay.createThread(token, ['bob'], `listed ${i}`)));
  await alice.refreshThreads();
  expect(alice.threads().length).toBeGreaterThanOrEqual(3);
  await gaugeIs(0);
  expect(opened.filter((o) => o.url.includes('/v1/sync/'))).toEqual([]);

  const id = threads[0]!.id;
  const view = alice.openThread(id);
  await online(view);
  await gaugeIs(1);
  await view.close();
  // Closed by the view, not by y-websocket's 30 s no-message watchdog (which would also
  // reconnect it): well before that.
  await within(Promise.all(socketsOf(id).map((o) => o.closed)), 15_000, 'the socket closed');
  await gaugeIs(0);
});

it('a view closed while it is still connecting leaves no socket behind', async () => {
  const { id } = await relay.createThread(token, ['bob'], 'closed early');
  // Closed at once: its ticket fetch and early socket are still under way.
  const early = alice.openThread(id);
  await early.close();
  // Another view comes all the way online meanwhile: whatever the first had in flight has
  // had a ticket round trip and a handshake to turn up by then.
  const { id: other } = await relay.createThread(token, ['bob'], 'control');
  const view = alice.openThread(other);
  await online(view);
  await within(Promise.all(socketsOf(id).map((o) => o.closed)), 15_000, 'the early socket closed');
  await gaugeIs(1);
  for (const o of socketsOf(id)) expect(o.ws.readyState).toBe(WebSocket.CLOSED);
  await view.close();
  await gaugeIs(0);
});
