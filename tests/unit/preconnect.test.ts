import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { preconnect, providerUrl } from '../../client/link/preconnect.ts';
import { eventually } from '../helpers/eventually.ts';

const WS = WebSocket as unknown as typeof globalThis.WebSocket;

describe('preconnect', () => {
  let wss: WebSocketServer | null = null;
  afterEach(() => wss?.close());

  /** A server that greets every connection at once with its number. */
  async function server(): Promise<{ url: string; connections: () => number }> {
    let n = 0;
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => ws.send(`hello ${++n}`));
    await new Promise((r) => wss!.once('listening', r));
    return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, connections: () => n };
  }

  it('builds the URL y-websocket opens', () => {
    const p = new WebsocketProvider('ws://relay.example/v1/sync//', 'thread~3', new Y.Doc(), { connect: false, params: { token: 'a b&c=' }, WebSocketPolyfill: WS });
    expect(providerUrl('ws://relay.example/v1/sync//', 'thread~3', { token: 'a b&c=' })).toBe(p.url);
    p.destroy();
  });

  it('hands the open socket over: open first, then what arrived before, and reconnects open new sockets', async () => {
    const { url, connections } = await server();
    const early = preconnect(WS, `${url}/doc?token=t`);
    await eventually(async () => connections(), (n) => n === 1, 'early socket connected');
    await new Promise((r) => setTimeout(r, 50)); // the greeting arrives before the adoption
    const events: string[] = [];
    const ws = new early.socketClass(`${url}/doc?token=t`);
    ws.onopen = () => events.push('open');
    ws.onmessage = (e: MessageEvent) => events.push(String(e.data));
    await eventually(async () => events, (e) => e.length === 2, 'open and greeting replayed');
    expect(events).toEqual(['open', 'hello 1']);
    expect(connections()).toBe(1);
    const again = new early.socketClass(`${url}/doc?token=t`);
    await eventually(async () => connections(), (n) => n === 2, 'a reconnect opens a new socket');
    again.close();
    ws.close();
  });

  it('opens a new socket for another URL and closes the early one', async () => {
    const { url, connections } = await server();
    const early = preconnect(WS, `${url}/doc~1?token=t`);
    const ws = new early.socketClass(`${url}/doc~2?token=t`);
    const first = await new Promise<string>((r) => (ws.onmessage = (e: MessageEvent) => r(String(e.data))));
    expect(first).toMatch(/^hello \d$/);
    await eventually(async () => [...wss!.clients].length, (n) => n === 1, 'the early socket closed');
    expect(connections()).toBeLessThanOrEqual(2);
    ws.close();
    early.discard();
  });
});
