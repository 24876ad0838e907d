/**
 * Issue 28: the SDK's sockets authenticate with single-use tickets (`POST /v1/tickets`), so
 * the bearer token never appears in a WebSocket URL; stock clients keep using `?token=`.
 * Real relay processes; the SDK gets a WebSocket class that records every URL it opens.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, createSkeinClient } from '../../client/index.ts';
import { CloseCode } from '../../shared/errors.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { untilView } from '../helpers/sdk-node.ts';

const TTL_MS = 1500;
const { freshSchema } = postgresSchemas();
let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  relay = await startRelay({ SKEIN_TICKET_TTL_MS: String(TTL_MS) });
  for (const u of ['alice', 'bob']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function ticket(token: string): Promise<{ ticket: string; expiresInMs: number }> {
  const r = await relay.api('POST', '/v1/tickets', token, {});
  expect(r.status).toBe(200);
  return r.body;
}

/** Opens `url`; resolves with the close code, or 'message' once the relay sends something (it accepted us). */
function outcome(url: string): Promise<{ result: number | 'message'; ws: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('message', () => resolve({ result: 'message', ws }));
    ws.once('close', (code) => resolve({ result: code, ws }));
  });
}

function recordingWebSocket(urls: string[]): typeof globalThis.WebSocket {
  // Called with `new`: returning an object from a constructor yields that object.
  return function (url: string, protocols?: string | string[]) {
    urls.push(url);
    return new WebSocket(url, protocols);
  } as unknown as typeof globalThis.WebSocket;
}

const until = <T extends { subscribe(fn: () => void): () => void }>(x: T, pred: (x: T) => boolean, what: string) => untilView(x, pred, what, 30_000);

describe('tickets on the relay', () => {
  it('needs a bearer token', async () => {
    expect((await relay.api('POST', '/v1/tickets', undefined, {})).status).toBe(401);
    expect((await relay.api('POST', '/v1/tickets', 'not-a-token', {})).status).toBe(401);
  });

  it('a ticket opens the sync socket once; reused, unknown and expired ones close with 4401', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const t = await ticket(tokens.alice!);
    expect(t.expiresInMs).toBe(TTL_MS);
    const first = await outcome(`${relay.wsUrl}/${id}?ticket=${t.ticket}`);
    expect(first.result).toBe('message');
    first.ws.close();
    expect((await outcome(`${relay.wsUrl}/${id}?ticket=${t.ticket}`)).result).toBe(CloseCode.UNAUTHENTICATED);
    expect((await outcome(`${relay.wsUrl}/${id}?ticket=nope`)).result).toBe(CloseCode.UNAUTHENTICATED);
    const late = await ticket(tokens.bob!);
    // Expiry is a duration of the contract itself: nothing to await but the clock.
    await new Promise((r) => setTimeout(r, late.expiresInMs + 100));
    expect((await outcome(`${relay.wsUrl}/${id}?ticket=${late.ticket}`)).result).toBe(CloseCode.UNAUTHENTICATED);
    // Stock clients still authenticate with the token.
    const stock = await outcome(`${relay.wsUrl}/${id}?token=${tokens.bob}`);
    expect(stock.result).toBe('message');
    stock.ws.close();
  });

  it('a ticket is bound to its user', async () => {
    const carol = await relay.token('carol');
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const t = await ticket(carol);
    expect((await outcome(`${relay.wsUrl}/${id}?ticket=${t.ticket}`)).result).toBe(CloseCode.NOT_A_MEMBER);
  });

  it('the events socket takes a ticket once', async () => {
    const events = relay.url.replace(/^http/, 'ws') + '/v1/events';
    const t = await ticket(tokens.alice!);
    const ws = new WebSocket(`${events}?ticket=${t.ticket}`);
    const event = new Promise<void>((r) => ws.once('message', () => r()));
    await new Promise((r) => ws.once('open', r));
    // A thread bob creates with alice reaches this socket only if it authenticated as alice.
    // (The relay adds the socket in its open handler, which has run before a later request.)
    await relay.createThread(tokens.bob!, ['alice']);
    await event;
    ws.close();
    expect((await outcome(`${events}?ticket=${t.ticket}`)).result).toBe(CloseCode.UNAUTHENTICATED);
  });
});

describe('the SDK', () => {
  it('puts only tickets in its socket URLs, and reconnects with fresh ones after a relay restart', async () => {
    const urls: string[] = [];
    const alice = await createSkeinClient({
      relayUrl: relay.url,
      userId: 'alice',
      getToken: () => tokens.alice!,
      WebSocketPolyfill: recordingWebSocket(urls),
    });
    clients.push(alice);
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const view = alice.openThread(id);
    await until(view, (v) => v.syncInfo.connection === 'online', 'view online');
    await until(alice, (c) => c.threadPush === 'online', 'push online');
    const before = urls.length;
    expect(before).toBeGreaterThanOrEqual(2);

    const down = until(view, (v) => v.syncInfo.connection !== 'online', 'view offline');
    await relay.restart(); // its tickets, kept in memory, are gone with it
    await down;
    await until(view, (v) => v.syncInfo.connection === 'online', 'view online again');
    await until(alice, (c) => c.threadPush === 'online', 'push online again');
    expect(urls.length).toBeGreaterThan(before);

    for (const u of urls) {
      expect(u).not.toContain(tokens.alice!);
      expect(new URL(u).searchParams.has('token')).toBe(false);
      expect(new URL(u).searchParams.get('ticket')).toBeTruthy();
    }
    // Neither tokens nor tickets reach the relay's log.
    const log = relay.rawLog.join('\n');
    expect(log).not.toContain(tokens.alice!);
    for (const u of urls) expect(log).not.toContain(new URL(u).searchParams.get('ticket')!);
    await view.close();
  });
});

describe('the SDK while the relay is down', () => {
  it('a view opened while the relay is down comes online by itself when it returns, with fresh tickets; its message is sequenced', async () => {
    // The web app reloaded during an outage (app.test.ts 'offline'): the view's first ticket
    // fetch fails. Before the fix the view gave up there and never connected again.
    const urls: string[] = [];
    const alice = await createSkeinClient({
      relayUrl: relay.url,
      userId: 'alice',
      getToken: () => tokens.alice!,
      WebSocketPolyfill: recordingWebSocket(urls),
    });
    clients.push(alice);
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const first = alice.openThread(id);
    await until(first, (v) => v.syncInfo.connection === 'online', 'view online');
    await first.send('before the outage');
    await until(first, (v) => v.messages.every((m) => m.status === 'sent'), 'first message sent');
    await first.close();

    await relay.stop();
    try {
      const view = alice.openThread(id);
      await view.send('written while the relay is down');
      await until(view, (v) => v.syncInfo.connection === 'offline', 'view offline');
      await until(alice, (c) => c.threadPush === 'offline', 'push offline');
      const before = urls.length;
      await relay.start(); // same port, a new process: every ticket it issued before is gone
      await until(view, (v) => v.syncInfo.connection === 'online', 'view online after the restart');
      await until(alice, (c) => c.threadPush === 'online', 'push online after the restart');
      await until(view, (v) => v.messages.length === 2 && v.messages.every((m) => m.status === 'sent'), 'message written while down sent');
      expect(view.messages.map((m) => [m.text, m.seq])).toEqual([
        ['before the outage', 1],
        ['written while the relay is down', 2],
      ]);
      const history = await relay.api('GET', `/v1/threads/${encodeURIComponent(id)}/messages?limit=100`, tokens.alice!);
      expect(history.body.messages.map((m: { text: string }) => m.text)).toEqual(['before the outage', 'written while the relay is down']);
      // The sockets opened after the restart carry fresh tickets, each used once, never the token.
      const after = urls.slice(before);
      expect(after.length).toBeGreaterThanOrEqual(2);
      const tickets = urls.map((u) => new URL(u).searchParams.get('ticket'));
      for (const u of urls) {
        expect(u).not.toContain(tokens.alice!);
        expect(new URL(u).searchParams.has('token')).toBe(false);
      }
      expect(tickets.every(Boolean)).toBe(true);
      expect(new Set(tickets).size).toBe(tickets.length);
      await view.close();
    } finally {
      if (!relay.proc) await relay.start();
    }
  });
});

describe('a relay without tickets', () => {
  let old: RelayProcess;
  afterAll(async () => old?.stop());

  it('gets the token from the SDK (404 on /v1/tickets)', async () => {
    old = await startRelay({ SKEIN_TICKET_TTL_MS: '0' });
    const token = await old.token('alice');
    expect((await old.api('POST', '/v1/tickets', token, {})).status).toBe(404);
    const urls: string[] = [];
    const alice = await createSkeinClient({ relayUrl: old.url, userId: 'alice', getToken: () => token, WebSocketPolyfill: recordingWebSocket(urls) });
    clients.push(alice);
    const { id } = await old.createThread(token, ['bob']);
    const view = alice.openThread(id);
    await until(view, (v) => v.syncInfo.connection === 'online', 'view online');
    await until(alice, (c) => c.threadPush === 'online', 'push online');
    for (const u of urls) expect(new URL(u).searchParams.get('token')).toBe(token);
  });
});

describe('tickets with several instances (PostgreSQL + Redis)', () => {
  it('a ticket issued by one instance opens a socket on another, once; expired ones close with 4401', async () => {
    const relays = await startInstances(scaleOutEnv(freshSchema(), { SKEIN_TICKET_TTL_MS: String(TTL_MS) }));
    try {
      const [one, two] = relays as [RelayProcess, RelayProcess];
      const token = await one.token('alice');
      const { id } = await one.createThread(token, ['bob']);
      const issue = async () => {
        const r = await one.api('POST', '/v1/tickets', token, {});
        expect(r.status).toBe(200);
        return r.body.ticket as string;
      };
      const t = await issue();
      const first = await outcome(`${two.wsUrl}/${id}?ticket=${t}`);
      expect(first.result).toBe('message');
      first.ws.close();
      // Spent on instance two: refused on either.
      expect((await outcome(`${two.wsUrl}/${id}?ticket=${t}`)).result).toBe(CloseCode.UNAUTHENTICATED);
      expect((await outcome(`${one.wsUrl}/${id}?ticket=${t}`)).result).toBe(CloseCode.UNAUTHENTICATED);
      // Not spent, but past its lifetime.
      const late = await issue();
      await new Promise((r) => setTimeout(r, TTL_MS + 200));
      expect((await outcome(`${two.wsUrl}/${id}?ticket=${late}`)).result).toBe(CloseCode.UNAUTHENTICATED);
      // The events socket takes them the same way.
      const ev = await issue();
      const events = new WebSocket(`${two.url.replace(/^http/, 'ws')}/v1/events?ticket=${ev}`);
      await new Promise<void>((resolve, reject) => {
        events.once('open', () => resolve());
        events.once('close', (code) => reject(new Error(`events socket closed ${code}`)));
      });
      events.close();
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });
});
