/**
 * Issue 28, connection caps that do not lock people out: a half-open socket (a peer gone
 * without closing: it never answers a ping) is dropped within SKEIN_PING_INTERVAL_MS × 3 and
 * no longer counts toward its user's cap, on the sync and on the events socket; the events
 * socket over its cap is refused 4530 with the hint, and the SDK's events channel waits at
 * least the hint between attempts and comes back by itself once a slot is free.
 * Real relay process; the relay's connection gauge (`skein_ws_connections`) is read from /metrics.
 */
import 'fake-indexeddb/auto';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, createSkeinClient } from '../../client/index.ts';
import { CloseCode, retryAfterMs } from '../../shared/errors.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';

const PING_MS = 1000;
const RETRY_AFTER_MS = 400;
/** The events-socket cap, set below its default (32): the relay must take it from the setting. */
const MAX_EVENT_SOCKETS_PER_USER = 5;
const { relay, tokens } = relayFixture(
  {
    SKEIN_PING_INTERVAL_MS: String(PING_MS),
    SKEIN_MAX_CONNECTIONS_PER_USER: '2',
    SKEIN_MAX_EVENT_SOCKETS_PER_USER: String(MAX_EVENT_SOCKETS_PER_USER),
    SKEIN_CONNECTION_RETRY_AFTER_MS: String(RETRY_AFTER_MS),
  },
  ['dave', 'erin', 'fay'],
);
const sockets: WebSocket[] = [];
const clients: SkeinClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const ws of sockets) ws.terminate();
});

/** The relay's open sockets of one kind, from its metrics. */
async function gauge(socket: 'sync' | 'events'): Promise<number> {
  const text = await (await fetch(relay.url + '/metrics')).text();
  const m = new RegExp(`^skein_ws_connections\\{socket="${socket}"\\} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no skein_ws_connections{socket="${socket}"} in /metrics`);
  return Number(m[1]);
}

/** An events socket of `user`; `autoPong: false` plays a peer that is gone without closing. */
function eventsSocket(user: string, autoPong = true) {
  const ws = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/v1/events?token=${encodeURIComponent(tokens[user]!)}`, { autoPong });
  sockets.push(ws);
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string; at: number }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
  // The relay answers a refusal by closing right after the upgrade; an accepted socket stays.
  // It is counted once its open handler ran, which the relay logs nothing for: the gauge says.
  const opened = new Promise<void>((r) => ws.once('open', () => r()));
  return { ws, closed, opened };
}

/** Polls `probe` until it returns true (the relay's state, which has no event to await). */
async function until(probe: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a half-open sync socket is dropped within 3 ping intervals and frees its slot: the next socket is accepted, not 4530', async () => {
  const { id } = await relay.createThread(tokens.dave!, ['erin']);
  const base = await gauge('sync');
  const ghosts = [0, 1].map(() => rawPeer(relay.wsUrl, id, tokens.dave!, { autoPong: false }));
  await Promise.all(ghosts.map((g) => g.synced));
  const since = Date.now();
  await until(async () => (await gauge('sync')) === base + 2, 'two sync sockets counted');
  // At the cap: refused, retryably.
  const over = rawPeer(relay.wsUrl, id, tokens.dave!);
  const refused = await over.closed;
  expect(refused.code).toBe(CloseCode.CONNECTION_LIMIT);
  expect(retryAfterMs(refused.code, refused.reason)).toBe(RETRY_AFTER_MS);
  // The ghosts answer no ping: dropped with 4508 (or 1006 if the close frame is lost).
  const closes = await Promise.all(ghosts.map((g) => g.closed));
  const elapsed = Date.now() - since;
  for (const c of closes) expect([CloseCode.UNRESPONSIVE, 1006]).toContain(c.code);
  // Within the setting (3 intervals from the last sign of life), plus room for a loaded machine;
  // the default (30 s) would take 60–90 s.
  expect(elapsed).toBeLessThan(3 * PING_MS + 10_000);
  await until(async () => (await gauge('sync')) === base, 'the dead sockets uncounted');
  // Their slots are free: a new socket syncs.
  const fresh = rawPeer(relay.wsUrl, id, tokens.dave!);
  await fresh.synced;
  fresh.ws.close();
  await fresh.closed;
});

it('the events socket: over the cap 4530 with the hint; a half-open one is dropped within 3 intervals and its slot is free again', async () => {
  expect((await relay.api('GET', '/v1/capabilities')).body.limits.eventSocketsPerUser).toBe(MAX_EVENT_SOCKETS_PER_USER);
  const base = await gauge('events');
  const live = Array.from({ length: MAX_EVENT_SOCKETS_PER_USER - 1 }, () => eventsSocket('erin'));
  const ghost = eventsSocket('erin', false);
  await Promise.all([...live, ghost].map((s) => s.opened));
  await until(async () => (await gauge('events')) === base + MAX_EVENT_SOCKETS_PER_USER, 'all events sockets counted');
  const since = Date.now();
  const over = eventsSocket('erin');
  const refused = await over.closed;
  expect(refused.code).toBe(CloseCode.CONNECTION_LIMIT);
  expect(retryAfterMs(refused.code, refused.reason)).toBe(RETRY_AFTER_MS);
  const dropped = await ghost.closed;
  expect([CloseCode.UNRESPONSIVE, 1006]).toContain(dropped.code);
  expect(dropped.at - since).toBeLessThan(3 * PING_MS + 10_000);
  // The live ones answered every ping and are still open.
  for (const s of live) expect(s.ws.readyState).toBe(WebSocket.OPEN);
  await until(async () => (await gauge('events')) === base + MAX_EVENT_SOCKETS_PER_USER - 1, 'the dead socket uncounted');
  const fresh = eventsSocket('erin');
  await fresh.opened;
  await until(async () => (await gauge('events')) === base + MAX_EVENT_SOCKETS_PER_USER, 'the new socket counted');
  expect(fresh.ws.readyState).toBe(WebSocket.OPEN);
  for (const s of [...live, fresh]) s.ws.close();
  await Promise.all([...live, fresh].map((s) => s.closed));
});

it("the SDK's events channel over the cap waits at least the hint between attempts and comes online by itself once a slot is free", async () => {
  const held = Array.from({ length: MAX_EVENT_SOCKETS_PER_USER }, () => eventsSocket('fay'));
  await Promise.all(held.map((s) => s.opened));
  // Only these are open now (the test before closed its own): the cap is full.
  await until(async () => (await gauge('events')) === MAX_EVENT_SOCKETS_PER_USER, 'the held sockets counted, no others');
  const from = relay.logs.length;
  const fay = await createSkeinClient({
    relayUrl: relay.url,
    userId: 'fay',
    getToken: () => tokens.fay!,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  clients.push(fay);
  const refusals = () => relay.logs.slice(from).filter((l) => l.event === 'ws_refused' && l.socket === 'events' && l.userId === 'fay');
  for (let n = 1; n <= 3; n++) await relay.waitForLog(() => refusals().length >= n, 30_000, from);
  const times = refusals().map((l) => l.time as number);
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(RETRY_AFTER_MS - 5);
  held[0]!.ws.close();
  await held[0]!.closed;
  // Fay's channel takes the freed slot by itself: counted by the relay, online, and no more refusals.
  await relay.waitForLog((l) => l.event === 'events_connected' && l.userId === 'fay', 30_000, from);
  const refusedBefore = refusals().length;
  await until(async () => fay.threadPush === 'online', 'push online');
  expect(await gauge('events')).toBe(MAX_EVENT_SOCKETS_PER_USER);
  // It stays: a refused attempt would close it within a moment; one more hint shows none came.
  await new Promise((r) => setTimeout(r, 2 * RETRY_AFTER_MS));
  expect(fay.threadPush).toBe('online');
  expect(refusals().length).toBe(refusedBefore);
  for (const s of held.slice(1)) s.ws.close();
});
