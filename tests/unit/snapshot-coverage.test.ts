/**
 * coveredSnapshot: which log rows a compaction may replace without merging them into the
 * snapshot. A wrong "held" loses the row's content, so each way a row can add something
 * (new structs, a deletion, both) is checked against a real document.
 */
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { coveredSnapshot, rangeDeleted } from '../../server/store/snapshot-coverage.ts';

/** Every update `doc` emits while `change` runs, merged. */
const capture = (doc: Y.Doc, change: () => void): Uint8Array => {
  const out: Uint8Array[] = [];
  const on = (u: Uint8Array) => out.push(u);
  doc.on('update', on);
  change();
  doc.off('update', on);
  return Y.mergeUpdates(out);
};

describe('coveredSnapshot', () => {
  it('holds the rows its document produced, and nothing another replica wrote', () => {
    const doc = new Y.Doc();
    const rows = [1, 2, 3].map((i) => capture(doc, () => doc.getArray('a').push([i])));
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc));
    const theirs = capture(other, () => other.getArray('a').push(['theirs']));
    const snap = coveredSnapshot(doc);
    for (const r of rows) expect(snap.holds(r)).toBe(true);
    expect(snap.holds(theirs)).toBe(false);
    expect(snap.holds(Y.mergeUpdates([...rows, theirs]))).toBe(false);
  });

  it('does not hold a deletion the document lacks, and holds one it has', () => {
    const doc = new Y.Doc();
    capture(doc, () => doc.getArray('a').push(['x', 'y', 'z']));
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc));
    // A delete-only update: no new structs, only a delete set.
    const deletesY = capture(other, () => other.getArray('a').delete(1, 1));
    expect(coveredSnapshot(doc).holds(deletesY)).toBe(false);
    Y.applyUpdate(doc, deletesY);
    expect(coveredSnapshot(doc).holds(deletesY)).toBe(true);
    // x and z deleted elsewhere: the range x..z is not deleted here (y is, x and z are not).
    const deletesAll = capture(other, () => other.getArray('a').delete(0, 2));
    expect(coveredSnapshot(doc).holds(deletesAll)).toBe(false);
  });

  it('answers for the document as it was when the snapshot was taken', () => {
    const doc = new Y.Doc();
    capture(doc, () => doc.getArray('a').push([1]));
    const snap = coveredSnapshot(doc);
    const later = capture(doc, () => doc.getArray('a').push([2]));
    expect(snap.holds(later)).toBe(false);
    expect(coveredSnapshot(doc).holds(later)).toBe(true);
  });

  it('does not hold bytes that are not an update', () => {
    expect(coveredSnapshot(new Y.Doc()).holds(new Uint8Array([255, 255, 255]))).toBe(false);
  });
});

describe('rangeDeleted', () => {
  const ranges = [{ clock: 0, len: 2 }, { clock: 5, len: 3 }];
  it('is true only inside one range', () => {
    expect(rangeDeleted(ranges, 0, 2)).toBe(true);
    expect(rangeDeleted(ranges, 6, 2)).toBe(true);
    expect(rangeDeleted(ranges, 1, 2)).toBe(false);
    expect(rangeDeleted(ranges, 3, 1)).toBe(false);
    expect(rangeDeleted(ranges, 7, 2)).toBe(false);
    expect(rangeDeleted(undefined, 0, 1)).toBe(false);
    expect(rangeDeleted(ranges, 9, 0)).toBe(true);
  });
});
