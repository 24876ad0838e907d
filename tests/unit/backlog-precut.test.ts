/**
 * Cutting a large backlog before the room sees it (server/room/backlog-precut.ts, run in a
 * worker): the part leaves out what the relay has, holds at most `keep` messages and at most
 * `maxBytes`, applies without pending structs, and the diff against it brings the rest.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { precutBacklog } from '../../server/room/backlog-precut.ts';

const record = (i: number) => ({ id: `m${String(i).padStart(5, '0')}`, authorId: 'alice', text: `offline ${i}`, clientSentAt: i });
const ids = (d: Y.Doc) => d.getArray<{ id: string }>('messages').toJSON().map((m: { id: string }) => m.id);

function backlogOf(relay: Y.Doc, n: number): Y.Doc {
  const client = new Y.Doc();
  Y.applyUpdate(client, Y.encodeStateAsUpdate(relay));
  const arr = client.getArray('messages');
  client.transact(() => {
    for (let i = 0; i < n; i++) arr.push([record(i)]);
  });
  client.getMap('receipts').set('m00000:alice', { readAt: 1 });
  return client;
}

describe('backlog precut', () => {
  it('a backlog within both bounds is handed on whole, less what the relay has', () => {
    const relay = new Y.Doc();
    relay.getArray('messages').push([record(-1)]);
    const client = backlogOf(relay, 100);
    // The client sends everything; the relay already holds its first message.
    const part = precutBacklog(Y.encodeStateAsUpdate(client), Y.encodeStateVector(relay), 1000, 1 << 20);
    expect(part).toMatchObject({ messages: 100, deferred: 0 });
    Y.applyUpdate(relay, part.update);
    expect(ids(relay)).toEqual(ids(client));
  });

  it('over the budget or the size: the first messages in append order, the rest by the next diff', () => {
    for (const [keep, maxBytes] of [[300, 1 << 20], [5000, 8 * 1024], [0, 1 << 20]] as const) {
      const relay = new Y.Doc();
      const client = backlogOf(relay, 2000);
      const backlog = Y.encodeStateAsUpdate(client, Y.encodeStateVector(relay));
      const part = precutBacklog(backlog, Y.encodeStateVector(relay), keep, maxBytes);
      expect(part.refusal).toBeUndefined();
      expect(part.update.byteLength).toBeLessThanOrEqual(maxBytes);
      expect(part.messages).toBe(2000);
      Y.applyUpdate(relay, part.update);
      expect(relay.store.pendingStructs).toBeNull();
      const taken = ids(relay);
      expect(taken.length).toBeLessThanOrEqual(keep);
      expect(part.deferred).toBe(2000 - taken.length);
      expect(taken).toEqual(ids(client).slice(0, taken.length));
      // Parts one after the other bring it all, each message once.
      for (let round = 0; ids(relay).length < 2000 && round < 100; round++) {
        const next = precutBacklog(Y.encodeStateAsUpdate(client), Y.encodeStateVector(relay), Math.max(keep, 300), maxBytes);
        Y.applyUpdate(relay, next.update);
      }
      expect(ids(relay)).toEqual(ids(client));
    }
  });

  it('refuses what it cannot decode, and what holds more than maxBytes before its first message', () => {
    expect(precutBacklog(new Uint8Array([1, 2, 3, 250, 250]), null, 10, 1024).refusal).toBe('malformed');
    const client = new Y.Doc();
    client.getMap('streams').set('s', { text: 'x'.repeat(4000) });
    client.getArray('messages').push([record(0)]);
    expect(precutBacklog(Y.encodeStateAsUpdate(client), null, 10, 1024).refusal).toBe('too_large');
  });
});
