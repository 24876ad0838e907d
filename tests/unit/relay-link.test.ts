/**
 * The thread link's reconnect loop with tickets (client/link/relay-link.ts), against a port
 * nobody listens on, with a ticket fetch the test controls: no socket with a spent ticket, a
 * failed fetch retried by the backoff schedule, and nothing opened once the link is stopped.
 */
import { createServer } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Awareness } from 'y-protocols/awareness';
import type { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { SkeinRequestError } from '../../client/link/relay-api.ts';
import { openRelayLink } from '../../client/link/relay-link.ts';

/** A loopback port with nothing listening (bound once, then freed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

let link: WebsocketProvider | null = null;
afterEach(() => link?.destroy());

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(params: Record<string, string> | null) {
  const urls: string[] = [];
  const fetches: Array<ReturnType<typeof deferred<Record<string, string>>>> = [];
  const refused: number[] = [];
  const Recording = function (url: string) {
    urls.push(url);
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    return ws;
  } as unknown as typeof globalThis.WebSocket;
  return {
    urls,
    fetches,
    refused,
    open: async () => {
      const doc = new Y.Doc();
      link = openRelayLink({
        wsUrl: `ws://127.0.0.1:${await deadPort()}/v1/sync`,
        liveDoc: 'thread',
        doc,
        awareness: new Awareness(doc),
        params,
        socketParams: () => {
          const d = deferred<Record<string, string>>();
          fetches.push(d);
          return d.promise;
        },
        WebSocketPolyfill: Recording,
        onStatus() {},
        onSynced() {},
        onSealed() {},
        onRefused: (code) => refused.push(code),
        isClosed: () => false,
        random: () => 0, // no backoff wait: the steps below are driven by the fetches
      });
      return link;
    },
  };
}

it('each reconnect opens a socket only with a freshly fetched ticket; a failed fetch opens none and is retried', async () => {
  const t = setup({ ticket: 't0' });
  await t.open();
  await waitFor(() => t.fetches.length === 1, 'a fetch after the first socket failed');
  expect(t.urls.map((u) => new URL(u).searchParams.get('ticket'))).toEqual(['t0']);
  // The relay is down: the fetch fails; no socket with the spent t0, another fetch instead.
  t.fetches[0]!.reject(new SkeinRequestError(0, 'UNREACHABLE', 'relay unreachable'));
  await waitFor(() => t.fetches.length === 2, 'the fetch retried');
  expect(t.urls).toHaveLength(1);
  t.fetches[1]!.resolve({ ticket: 't1' });
  await waitFor(() => t.urls.length === 2, 'a socket with the new ticket');
  expect(new URL(t.urls[1]!).searchParams.get('ticket')).toBe('t1');
  expect(t.refused).toEqual([]);
});

it('a link opened without parameters (their fetch failed) fetches them itself', async () => {
  const t = setup(null);
  await t.open();
  await waitFor(() => t.fetches.length === 1, 'a fetch');
  expect(t.urls).toEqual([]);
  t.fetches[0]!.resolve({ ticket: 't1' });
  await waitFor(() => t.urls.length === 1, 'a socket');
  expect(new URL(t.urls[0]!).searchParams.get('ticket')).toBe('t1');
});

it('a refused bearer on the ticket fetch is fetched once more, then reported as 4401', async () => {
  const t = setup(null);
  await t.open();
  await waitFor(() => t.fetches.length === 1, 'a fetch');
  t.fetches[0]!.reject(new SkeinRequestError(401, 'UNAUTHENTICATED', 'bad token'));
  await waitFor(() => t.fetches.length === 2, 'one more fetch');
  t.fetches[1]!.reject(new SkeinRequestError(401, 'UNAUTHENTICATED', 'bad token'));
  await waitFor(() => t.refused.length === 1, 'refused');
  expect(t.refused).toEqual([4401]);
  expect(t.urls).toEqual([]);
  expect(t.fetches).toHaveLength(2);
});

it('a link stopped while a reconnect fetches its ticket opens no socket afterwards', async () => {
  const t = setup({ ticket: 't0' });
  const p = await t.open();
  await waitFor(() => t.fetches.length === 1, 'a fetch after the first socket failed');
  p.destroy();
  link = null;
  t.fetches[0]!.resolve({ ticket: 't1' });
  // Let the resolution and any timer it would start run.
  await new Promise((r) => setTimeout(r, 50));
  expect(t.urls).toHaveLength(1);
  expect(t.fetches).toHaveLength(1);
});

it('a connect() from elsewhere (a resync) while the ticket is spent waits for a fresh one instead of reusing it', async () => {
  const t = setup({ ticket: 't0' });
  const p = await t.open();
  await waitFor(() => t.fetches.length === 1, 'a fetch after the first socket failed');
  p.connect(); // what view-sync's resync does when the link is not connected
  await new Promise((r) => setTimeout(r, 50));
  expect(t.urls).toHaveLength(1);
  expect(t.fetches).toHaveLength(1); // the fetch under way serves it
  t.fetches[0]!.resolve({ ticket: 't1' });
  await waitFor(() => t.urls.length === 2, 'a socket with the new ticket');
  expect(t.urls.map((u) => new URL(u).searchParams.get('ticket'))).toEqual(['t0', 't1']);
});
