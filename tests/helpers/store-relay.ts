/**
 * A relay in this process over a store the test hands it (e.g. a faulty-store.ts wrapper),
 * served on loopback for stock y-websocket clients. A token is the user id itself.
 */
import { serve, type ServerType } from '@hono/node-server';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { type Relay, type RelayConfigInput, createRelay } from '../../server/create-relay.ts';
import type { Store } from '../../server/store/store.ts';

export interface StoreRelay {
  relay: Relay;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export async function startStoreRelay(store: Store, config: RelayConfigInput = {}): Promise<StoreRelay> {
  const relay = await createRelay({
    config: { dataDir: mkdtempSync(join(tmpdir(), 'skein-store-relay-')), logLevel: 'silent', idleUnloadMs: 200, ...config },
    store,
    authenticate: ({ token }) => (token && /^[a-z0-9-]+$/.test(token) ? token : null),
  });
  const server = await new Promise<ServerType>((r) => {
    const s = serve({ fetch: relay.app.fetch, port: 0, hostname: '127.0.0.1' }, () => r(s));
  });
  relay.injectWebSocket(server);
  const port = (server.address() as AddressInfo).port;
  return {
    relay,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/v1/sync`,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await relay.close({ drained: closed });
    },
  };
}

/** The thread's document as the store holds it (its log replayed into a fresh Y.Doc). */
export async function storedDoc(store: Store, threadId: string): Promise<Y.Doc> {
  const doc = new Y.Doc();
  const { updates } = await store.loadUpdates(threadId);
  for (const u of updates) Y.applyUpdate(doc, u);
  return doc;
}

/**
 * Structs `clientDoc` holds from writers other than `own` (its own client ids) that the store
 * does not: a peer must never have received anything the store may lose. Returns the
 * offending client ids with how far the peer is ahead.
 */
export async function unstoredStructs(store: Store, threadId: string, clientDoc: Y.Doc, own: Iterable<number>): Promise<Array<[number, number, number]>> {
  const stored = Y.decodeStateVector(Y.encodeStateVector(await storedDoc(store, threadId)));
  const mine = new Set(own);
  const ahead: Array<[number, number, number]> = [];
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(clientDoc))) {
    if (mine.has(client)) continue;
    const s = stored.get(client) ?? 0;
    if (clock > s) ahead.push([client, clock, s]);
  }
  return ahead;
}
