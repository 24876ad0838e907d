/**
 * A thread view in Node with fake-indexeddb and no reachable relay: ordering of
 * canonical and pending messages, duplicate suppression, durability of send() across
 * a reopen, and sign-out.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type SkeinClient, type TelemetryEvent, createSkeinClient } from '../../client/index.ts';
import { type CanonInfo, type MessageRecord, threadRoots } from '../../shared/schema.ts';

// Nothing listens on port 9 (discard) on loopback: the relay is unreachable.
const RELAY = 'http://127.0.0.1:9';
let open: SkeinClient[] = [];
afterEach(async () => {
  await Promise.all(open.map((c) => c.close()));
  open = [];
});

async function offlineClient(userId: string, telemetry?: (e: TelemetryEvent) => void): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl: RELAY, userId, getToken: () => 'token',
    telemetry,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, revalidateIntervalMs: 0 });
  open.push(c);
  return c;
}

/** What a relay (another Y.Doc) would send: messages and canon from another client. */
function relayUpdate(target: Y.Doc, build: (messages: Y.Array<MessageRecord>, canon: Y.Map<CanonInfo>) => void): void {
  const other = new Y.Doc();
  Y.applyUpdate(other, Y.encodeStateAsUpdate(target));
  const sv = Y.encodeStateVector(other);
  const roots = threadRoots(other);
  other.transact(() => build(roots.messages, roots.canon));
  Y.applyUpdate(target, Y.encodeStateAsUpdate(other, sv));
}

const msg = (id: string, authorId = 'bob'): MessageRecord => ({ id, authorId, text: `text ${id}`, clientSentAt: 1 });

describe('thread view ordering', () => {
  it('shows canonical messages by seq, then pending ones in local order', async () => {
    const client = await offlineClient('alice');
    const view = client.openThread('t-order');
    await view.ready;
    const p1 = await view.send('pending 1');
    expect(view.messages.map((m) => m.id)).toEqual([p1]); // builds the cache
    const p2 = await view.send('pending 2'); // appended without rebuilding
    expect(view.messages.map((m) => m.id)).toEqual([p1, p2]);
    // Remote messages arrive in array order c, a, b but with seqs a=1, b=2, c=3.
    relayUpdate(view.doc, (messages, canon) => {
      messages.insert(messages.length, [msg('c'), msg('a'), msg('b')]);
      canon.set('a', { seq: 1, sentAt: 10, state: 'sent' });
      canon.set('b', { seq: 2, sentAt: 11, state: 'sent' });
      canon.set('c', { seq: 3, sentAt: 12, state: 'sent' });
    });
    expect(view.messages.map((m) => [m.id, m.status])).toEqual([
      ['a', 'sent'],
      ['b', 'sent'],
      ['c', 'sent'],
      [p1, 'pending'],
      [p2, 'pending'],
    ]);
    expect(view.messages.filter((m) => m.mine).map((m) => m.id)).toEqual([p1, p2]);
    // The relay sequences p2 before p1: canonical order wins over local order.
    relayUpdate(view.doc, (_m, canon) => {
      canon.set(p2, { seq: 4, sentAt: 13, state: 'sent' });
      canon.set(p1, { seq: 5, sentAt: 13, state: 'sent' });
    });
    expect(view.messages.map((m) => m.id)).toEqual(['a', 'b', 'c', p2, p1]);
    expect(view.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('suppresses a duplicated id and reports it to telemetry without text', async () => {
    const events: TelemetryEvent[] = [];
    const client = await offlineClient('alice', (e) => events.push(e));
    const view = client.openThread('t-dup');
    await view.ready;
    relayUpdate(view.doc, (messages, canon) => {
      messages.insert(0, [msg('x'), msg('y'), msg('x')]);
      canon.set('x', { seq: 1, sentAt: 1, state: 'sent' });
    });
    expect(view.messages.map((m) => m.id)).toEqual(['x', 'y']);
    // A duplicate appended later (the fast path) is suppressed too.
    relayUpdate(view.doc, (messages) => messages.insert(messages.length, [msg('y'), msg('z')]));
    expect(view.messages.map((m) => m.id)).toEqual(['x', 'y', 'z']);
    const dup = events.filter((e) => e.name === 'message_reconcile_duplicate_suppressed');
    expect(dup).toEqual([
      expect.objectContaining({ threadId: 't-dup', messageId: 'x' }),
      expect.objectContaining({ threadId: 't-dup', messageId: 'y' }),
    ]);
    expect(JSON.stringify(events)).not.toContain('text x');
  });

  it('refuses a message over the text limit with a clear error and appends nothing', async () => {
    const client = await offlineClient('alice');
    const view = client.openThread('t-long');
    await view.ready;
    await expect(view.send('x'.repeat(10_001))).rejects.toMatchObject({ code: 'TEXT_TOO_LONG', message: 'the text has 10001 characters; this relay takes at most 10000' });
    expect(view.roots.messages.length).toBe(0);
  });
});

describe('presence', () => {
  it('typing on every keystroke re-sends presence only when it starts and stops', async () => {
    const client = await offlineClient('alice');
    const view = client.openThread('t-typing');
    let changes = 0;
    view.awareness.on('change', () => changes++);
    for (let i = 0; i < 20; i++) view.setTyping(true);
    expect(changes).toBe(1);
    expect(view.awareness.getLocalState()?.typingAt).toBeGreaterThan(0);
    view.setTyping(false);
    view.setTyping(false);
    expect(changes).toBe(2);
    expect(view.awareness.getLocalState()?.typingAt).toBe(0);
  });
});

describe('local persistence', () => {
  it('a sent message is in IndexedDB when send() resolves: a fresh client sees it offline', async () => {
    const c1 = await offlineClient('alice');
    const v1 = c1.openThread('t-durable');
    const id = await v1.send('durable');
    // A second client (another tab after the first closed) loads the same database.
    await c1.close();
    const c2 = await offlineClient('alice');
    const v2 = c2.openThread('t-durable');
    await v2.ready;
    expect(v2.messages.map((m) => [m.id, m.status])).toEqual([[id, 'pending']]);
    expect(v2.syncInfo.connection).not.toBe('online');
    expect(v2.syncInfo.state).toBe('UNKNOWN');
  });

  it('send() resolves only once the IndexedDB write of the message has committed', async () => {
    // The test above cannot tell: closing the client flushes y-indexeddb's writes anyway.
    const c = await offlineClient('alice');
    const v = c.openThread('t-durable-commit');
    await v.ready;
    const writes: Array<{ done: boolean }> = [];
    const proto = IDBDatabase.prototype;
    const original = proto.transaction;
    let recording = true;
    proto.transaction = function (this: IDBDatabase, names: string | string[], mode?: IDBTransactionMode, opts?: IDBTransactionOptions) {
      const tx = original.call(this, names, mode, opts);
      const stores = typeof names === 'string' ? [names] : [...names];
      if (recording && mode === 'readwrite' && stores.includes('updates') && this.name.includes('t-durable-commit')) {
        const w = { done: false };
        writes.push(w);
        tx.addEventListener('complete', () => (w.done = true));
      }
      return tx;
    } as typeof original;
    try {
      const doneWhenResolved = await v.send('durable').then(() => writes.map((w) => w.done));
      recording = false;
      // y-indexeddb's write of the message, and the SDK's own wait behind it.
      expect(doneWhenResolved.length).toBeGreaterThanOrEqual(1);
      expect(doneWhenResolved.every(Boolean)).toBe(true);
    } finally {
      proto.transaction = original;
    }
  });

  it('signOut deletes the local data of that relay and user', async () => {
    const c1 = await offlineClient('carol');
    await c1.openThread('t-signout').send('secret');
    await c1.signOut();
    open = open.filter((c) => c !== c1);
    const c2 = await offlineClient('carol');
    const v = c2.openThread('t-signout');
    await v.ready;
    expect(v.messages).toEqual([]);
  });
});
