/** The SDK's reconnect delay: full jitter, random(0, min(cap, base · 2^attempt)) (issue 28). */
import { type AddressInfo, type Server, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { reconnectDelay } from '../../client/link/backoff.ts';
import { openRelayLink } from '../../client/link/relay-link.ts';
import { ThreadPush } from '../../client/threads/thread-push.ts';

describe('reconnectDelay', () => {
  it('spans the whole window from 0 to base · 2^attempt', () => {
    expect(reconnectDelay(0, 100, 2500, () => 0)).toBe(0);
    expect(reconnectDelay(0, 100, 2500, () => 0.5)).toBe(50);
    expect(reconnectDelay(0, 100, 2500, () => 0.999999)).toBe(99);
    expect(reconnectDelay(1, 100, 2500, () => 0.999999)).toBe(199);
    expect(reconnectDelay(3, 100, 2500, () => 0.5)).toBe(400);
  });

  it('the window stops growing at the cap, also after very many attempts', () => {
    expect(reconnectDelay(4, 100, 2500, () => 0.999999)).toBe(1599);
    expect(reconnectDelay(5, 100, 2500, () => 0.999999)).toBe(2499);
    expect(reconnectDelay(5000, 100, 2500, () => 0.5)).toBe(1250);
    expect(reconnectDelay(5000, 500, 30_000, () => 0.999999)).toBe(29_999);
  });

  it('is jittered: the same attempt gives different delays with real randomness, all in the window', () => {
    const delays = Array.from({ length: 200 }, () => reconnectDelay(10, 100, 2500));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(2500);
    // Full jitter, not a fixed step or a narrow band: both halves of the window are used.
    expect(delays.some((d) => d < 1250)).toBe(true);
    expect(delays.some((d) => d >= 1250)).toBe(true);
  });
});

/**
 * The SDK's two sockets reconnect on that schedule. A real TCP server on loopback that drops
 * every connection counts the attempts; with the injected random at 0 every delay is 0, so
 * six attempts take no time, where a fixed exponential backoff needs seconds for them (the
 * sync link 200 + 400 + 800 + 1600 + 2500 ms, the push channel at least 250 + … + 4000 ms).
 */
describe('the SDK reconnects with full jitter', () => {
  const WS = WebSocket as unknown as typeof globalThis.WebSocket;
  let server: Server | null = null;
  afterEach(() => server?.close());

  /** A server that accepts and drops every connection; resolves once it had `n`. */
  async function dropper(n: number): Promise<{ port: number; reached: Promise<number[]> }> {
    const times: number[] = [];
    let done!: (t: number[]) => void;
    const reached = new Promise<number[]>((r) => (done = r));
    server = createServer((s) => {
      times.push(performance.now());
      s.destroy();
      if (times.length === n) done(times);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, reached };
  }

  it('the sync link (y-websocket provider)', async () => {
    const { port, reached } = await dropper(6);
    const doc = new Y.Doc();
    const p = openRelayLink({
      wsUrl: `ws://127.0.0.1:${port}/v1/sync`,
      liveDoc: 't',
      doc,
      awareness: new Awareness(doc),
      params: { token: 'x' },
      socketParams: async () => ({ token: 'x' }),
      WebSocketPolyfill: WS,
      onStatus() {},
      onSynced() {},
      onSealed() {},
      onRefused() {},
      isClosed: () => false,
      random: () => 0,
    });
    try {
      const times = await reached;
      expect(times.at(-1)! - times[0]!).toBeLessThan(3000);
    } finally {
      p.destroy();
    }
  });

  it('the thread-list push channel', async () => {
    const { port, reached } = await dropper(6);
    const push = new ThreadPush({ url: `ws://127.0.0.1:${port}/v1/events`, socketParams: async () => ({ token: 'x' }), WebSocketImpl: WS, onEvent() {}, onState() {}, random: () => 0 });
    push.start();
    try {
      const times = await reached;
      expect(times.at(-1)! - times[0]!).toBeLessThan(3000);
    } finally {
      push.close();
    }
  });
});
