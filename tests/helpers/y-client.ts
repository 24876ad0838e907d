/**
 * A stock y-websocket client in Node (WebsocketProvider + ws), with helpers to append
 * messages the way the SDK does and to await document states instead of sleeping.
 */
import { ulid } from 'ulid';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { type MessageRecord, type ThreadRoots, threadRoots } from '../../shared/schema.ts';

export interface TestClient {
  doc: Y.Doc;
  provider: WebsocketProvider;
  roots: ThreadRoots;
  userId: string;
  /** Close events received, newest last. */
  closes: Array<{ code: number; reason: string }>;
  send(text: string, extra?: Partial<MessageRecord>): MessageRecord;
  /** Resolves when `pred` holds, re-checking on every document change. */
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the next close event. */
  nextClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  destroy(): void;
}

export function connectClient(wsUrl: string, threadId: string, token: string, userId: string, doc = new Y.Doc()): TestClient {
  const provider = new WebsocketProvider(wsUrl, threadId, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token },
    maxBackoffTime: 500,
    // Clients in one test process stand for different users on different machines;
    // BroadcastChannel would let them exchange updates behind the relay's back.
    disableBc: true,
  });
  const roots = threadRoots(doc);
  const closes: Array<{ code: number; reason: string }> = [];
  const closeWaiters: Array<(c: { code: number; reason: string }) => void> = [];
  provider.on('connection-close', (event: any) => {
    if (!event) return;
    const c = { code: event.code, reason: String(event.reason ?? '') };
    closes.push(c);
    closeWaiters.splice(0).forEach((f) => f(c));
  });
  return {
    doc,
    provider,
    roots,
    userId,
    closes,
    send(text, extra = {}) {
      const m: MessageRecord = { id: ulid(), authorId: userId, text, clientSentAt: Date.now(), ...extra };
      roots.messages.insert(roots.messages.length, [m]);
      return m;
    },
    until(pred, what, timeoutMs = 20_000) {
      return waitUntil(doc, pred, what, timeoutMs);
    },
    nextClose(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no close event')), timeoutMs);
        closeWaiters.push((c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
    },
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

/** Resolves when `pred()` is true, checking now and after each transaction of any of `docs`. */
export function waitUntil(docs: Y.Doc | Y.Doc[], pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  // Every document the predicate reads: a change to any of them can make it true.
  const all = Array.isArray(docs) ? docs : [docs];
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const stop = () => {
      clearTimeout(timer);
      for (const d of all) d.off('afterTransaction', onUpdate);
    };
    const onUpdate = () => {
      if (!pred()) return;
      stop();
      resolve();
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for: ${what}`));
    }, timeoutMs);
    for (const d of all) d.on('afterTransaction', onUpdate);
  });
}

/** Canonical (id, seq) pairs of a client, in seq order. */
export function canonicalOrder(c: TestClient): Array<{ id: string; seq: number }> {
  return [...c.roots.canon.entries()].map(([id, v]) => ({ id, seq: v.seq })).sort((a, b) => a.seq - b.seq);
}

/** Resolves when the provider has completed its first sync. */
export function synced(c: TestClient, timeoutMs = 15_000): Promise<void> {
  if (c.provider.synced) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('provider did not sync')), timeoutMs);
    c.provider.once('sync', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
