/**
 * The merge a compaction or redaction writes (server/store/redaction-merge.ts): rows the
 * snapshot does not hold keep none of a deleted message's content, whether the marker is in
 * the snapshot or in one of the rows; without deletions it is the plain Yjs merge.
 */
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { editKey, removeRedacted } from '../../shared/message-lifecycle.ts';
import { threadRoots } from '../../shared/schema.ts';
import { mergeLogRows } from '../../server/store/redaction-merge.ts';

const has = (u: Uint8Array, text: string) => Buffer.from(u).includes(Buffer.from(text));

function updateOf(doc: Y.Doc, change: () => void): Uint8Array {
  let out: Uint8Array | null = null;
  const take = (u: Uint8Array) => (out = u);
  doc.on('update', take);
  doc.transact(change);
  doc.off('update', take);
  return out!;
}

function twoReplicas() {
  const b = new Y.Doc();
  const rb = threadRoots(b);
  const created = updateOf(b, () => rb.messages.push([{ id: 'm1', authorId: 'alice', text: 'SECRET original', clientSentAt: 1 }, { id: 'm2', authorId: 'bob', text: 'kept', clientSentAt: 2 }]));
  const a = new Y.Doc();
  Y.applyUpdate(a, created);
  const edit = updateOf(b, () => rb.edits.set(editKey('m1', 'E1'), { text: 'SECRET edited', editedAt: 2 }));
  return { a, b, created, edit };
}

describe('mergeLogRows', () => {
  it('a row the purging snapshot lacks (an edit of the deleted message) keeps none of its text', () => {
    const { a, edit } = twoReplicas();
    const ra = threadRoots(a);
    a.transact(() => {
      ra.redactions.set('m1', { by: 'alice', at: 3 });
      removeRedacted(ra, ['m1']);
    });
    const snapshot = Y.encodeStateAsUpdate(a);
    expect(has(Y.mergeUpdates([snapshot, edit]), 'SECRET')).toBe(true); // what the plain merge kept
    const merged = mergeLogRows(snapshot, [edit]);
    expect(has(merged, 'SECRET')).toBe(false);
    const loaded = new Y.Doc();
    Y.applyUpdate(loaded, merged);
    const r = threadRoots(loaded);
    expect([r.messages.toArray().map((m) => m.text), r.edits.size, r.redactions.has('m1')]).toEqual([['kept'], 0, true]);
  });

  it('a compaction from before the purge: the marker is in a row, not in the snapshot', () => {
    const { a, b } = twoReplicas();
    const ra = threadRoots(a);
    const purge = updateOf(a, () => {
      ra.redactions.set('m1', { by: 'alice', at: 3 });
      removeRedacted(ra, ['m1']);
    });
    const merged = mergeLogRows(Y.encodeStateAsUpdate(b), [purge], false);
    expect(has(merged, 'SECRET')).toBe(false);
  });

  it('without deletions: the plain merge, nothing lost', () => {
    const { b, created, edit } = twoReplicas();
    void b;
    const merged = mergeLogRows(created, [edit], false);
    expect(merged).toEqual(Y.mergeUpdates([created, edit]));
    expect(mergeLogRows(created, [])).toBe(created);
  });
});
