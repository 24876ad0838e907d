/**
 * The per-user connection cap refuses with a retryable close (4530 with `retry_after_ms`),
 * not 4429, which stock y-websocket treats as final (issue 28): a user over the cap is over
 * it only until another of their sockets closes. A stock client keeps retrying; the SDK
 * waits at least the hint between attempts; both connect by themselves once a slot is free.
 */
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { openRelayLink } from '../../client/link/relay-link.ts';
import { CloseCode, retryAfterMs } from '../../shared/errors.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { synced } from '../helpers/y-client.ts';

const RETRY_AFTER_MS = 400;
const { relay, tokens, client } = relayFixture(
  { SKEIN_MAX_CONNECTIONS_PER_USER: '2', SKEIN_CONNECTION_RETRY_AFTER_MS: String(RETRY_AFTER_MS) },
  ['dave', 'erin', 'fay'],
);

it('capabilities report the hint', async () => {
  expect((await relay.api('GET', '/v1/capabilities')).body.limits).toMatchObject({ connectionsPerUser: 2, connectionRetryAfterMs: RETRY_AFTER_MS });
});

it('a stock y-websocket client over the cap gets 4530 with the hint, keeps retrying, and syncs once a slot is free', async () => {
  const { id } = await relay.createThread(tokens.dave!, ['erin']);
  const peers = [0, 1].map(() => rawPeer(relay.wsUrl, id, tokens.dave!));
  await Promise.all(peers.map((p) => p.synced));
  const stock = client(id, 'dave');
  const close = await stock.nextClose();
  expect(close.code).toBe(CloseCode.CONNECTION_LIMIT);
  expect(retryAfterMs(close.code, close.reason)).toBe(RETRY_AFTER_MS);
  expect(stock.provider.shouldConnect).toBe(true); // 45xx: the stock client does not give up
  peers[0]!.ws.close();
  await peers[0]!.closed;
  await synced(stock, 30_000);
  peers[1]!.ws.close();
});

it('the SDK waits at least the hint between attempts and connects by itself once a slot is free', async () => {
  const { id } = await relay.createThread(tokens.fay!, []);
  const peers = [0, 1].map(() => rawPeer(relay.wsUrl, id, tokens.fay!));
  await Promise.all(peers.map((p) => p.synced));
  const from = relay.logs.length;
  const doc = new Y.Doc();
  const refused: number[] = [];
  let onSynced!: () => void;
  const linkSynced = new Promise<void>((r) => (onSynced = r));
  const p = openRelayLink({
    wsUrl: relay.wsUrl,
    liveDoc: id,
    doc,
    awareness: new Awareness(doc),
    params: { token: tokens.fay! },
    socketParams: async () => ({ token: tokens.fay! }),
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    onStatus() {},
    onSynced: () => onSynced(),
    onSealed() {},
    onRefused: (code) => refused.push(code),
    isClosed: () => false,
  });
  try {
    // Three refusals of the SDK's socket, then a slot frees up.
    const refusalsOfFay = () => relay.logs.slice(from).filter((l) => l.event === 'ws_refused' && l.userId === 'fay' && l.code === CloseCode.CONNECTION_LIMIT);
    for (let n = 1; n <= 3; n++) await relay.waitForLog(() => refusalsOfFay().length >= n, 30_000, from);
    const times = refusalsOfFay().map((l) => l.time as number);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(RETRY_AFTER_MS - 5);
    peers[0]!.ws.close();
    await peers[0]!.closed;
    await linkSynced;
    expect(refused).toEqual([]);
  } finally {
    p.destroy();
    peers[1]!.ws.close();
  }
});
