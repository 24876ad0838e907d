/** The relay sequences a batch of new messages in the array's order, not the update's. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { inDocumentOrder } from '../../server/room/document-order.ts';

/** Appends `text` in `doc` and returns its struct id with the text. */
function append(doc: Y.Doc, text: string) {
  const arr = doc.getArray<string>('messages');
  const clock = Y.getState(doc.store, doc.clientID);
  arr.insert(arr.length, [text]);
  return { client: doc.clientID, clock, text };
}

function link(a: Y.Doc, b: Y.Doc) {
  a.on('update', (u: Uint8Array, o: unknown) => o !== 'link' && Y.applyUpdate(b, u, 'link'));
  b.on('update', (u: Uint8Array, o: unknown) => o !== 'link' && Y.applyUpdate(a, u, 'link'));
}

describe('inDocumentOrder', () => {
  it('orders entries of two clients by their place in the array', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    link(a, b);
    const entries = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'].map((t, i) => append(i % 2 ? b : a, t));
    const relay = new Y.Doc();
    Y.applyUpdate(relay, Y.encodeStateAsUpdate(a));
    // Grouped by client, as an update lists them.
    const grouped = [...entries].sort((x, y) => x.client - y.client || x.clock - y.clock);
    expect(inDocumentOrder(relay, grouped).map((e) => e.text)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
  });

  it('orders records that share one item (a run of appends by one client) by clock', () => {
    const a = new Y.Doc();
    const entries = ['x', 'y', 'z'].map((t) => append(a, t));
    expect(inDocumentOrder(a, [entries[2]!, entries[0]!, entries[1]!]).map((e) => e.text)).toEqual(['x', 'y', 'z']);
  });

  it('walks only from the leftmost entry to the end', () => {
    const a = new Y.Doc();
    for (let i = 0; i < 1000; i++) append(a, `old${i}`);
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    link(a, b);
    const fresh = [append(b, 'n1'), append(a, 'n2')];
    expect(inDocumentOrder(a, [fresh[1]!, fresh[0]!]).map((e) => e.text)).toEqual(['n1', 'n2']);
  });

  it('keeps entries it cannot find last, in their order', () => {
    const a = new Y.Doc();
    const x = append(a, 'x');
    const y = append(a, 'y');
    const ghost = { client: 12345, clock: 7, text: 'ghost' };
    expect(inDocumentOrder(a, [y, ghost, x]).map((e) => e.text)).toEqual(['x', 'y', 'ghost']);
  });
});
