/**
 * Cutting an offline backlog (server/room/backlog-cut.ts): the prefix applies without
 * pending structs, keeps the first messages in append order across a backlog's client ids,
 * and the Yjs diff against it carries exactly the rest.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { backlogCuts, prefixUpdate } from '../../server/room/backlog-cut.ts';

const ids = (d: Y.Doc) => d.getArray<{ id: string }>('messages').toJSON().map((m: { id: string }) => m.id);
const messagesOf = (d: Y.Doc) => {
  const out: Array<{ record: { id: string }; client: number; clock: number }> = [];
  const arr = d.getArray('messages');
  let item = (arr as unknown as { _start: Y.Item | null })._start;
  for (; item; item = item.right) {
    const content = item.content as Y.ContentAny;
    content.arr.forEach((r, j) => out.push({ record: r as { id: string }, client: item!.id.client, clock: item!.id.clock + j }));
  }
  return out;
};

describe('backlog cut', () => {
  it('takes the first messages in append order across sessions (client ids), and the diff brings the rest', () => {
    const a = new Y.Doc();
    a.getArray('messages').insert(0, [{ id: 'a0' }, { id: 'a1' }, { id: 'a2' }]);
    for (let i = 3; i < 6; i++) a.getArray('messages').push([{ id: `a${i}` }]);
    a.getMap('receipts').set('r', { readAt: 1 });
    a.getMap('receipts').delete('r');
    // A second session of the same device: a new client id appending after the first.
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    for (let i = 0; i < 4; i++) b.getArray('messages').push([{ id: `b${i}` }]);
    const backlog = Y.encodeStateAsUpdate(b);
    const messages = messagesOf(b) as never;

    for (const keep of [0, 1, 2, 5, 6, 7, 10]) {
      const relay = new Y.Doc();
      Y.applyUpdate(relay, prefixUpdate(backlog, backlogCuts(backlog, messages, keep)));
      expect(relay.store.pendingStructs).toBeNull();
      expect(relay.store.pendingDs).toBeNull();
      expect(ids(relay)).toEqual(ids(b).slice(0, keep));
      Y.applyUpdate(relay, Y.encodeStateAsUpdate(b, Y.encodeStateVector(relay)));
      expect(ids(relay)).toEqual(ids(b));
      expect(relay.getMap('receipts').size).toBe(0);
    }
  });
});
