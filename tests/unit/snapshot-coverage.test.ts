/**
 * coveredSnapshot: which log rows a compaction may replace without merging them into the
 * snapshot. A wrong "held" loses the row's content, so each way a row can add something
 * (new structs, a deletion, both) is checked against a real document.
 */
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { type DeleteSet, type StateVector, coveredSnapshot, rangeDeleted, walkHeld } from '../../server/store/snapshot-coverage.ts';
import { randomEdit, rng } from '../helpers/random-yjs.ts';

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

/** `holds` as Yjs' decoding answers it: the reference the walker must agree with. */
function decodedHeld(row: Uint8Array, state: StateVector, deleted: DeleteSet): boolean {
  let d: ReturnType<typeof Y.decodeUpdate>;
  try {
    d = Y.decodeUpdate(row);
  } catch {
    return false;
  }
  const structsHeld = d.structs.every((s) => s instanceof Y.Skip || s.id.clock + s.length <= (state.get(s.id.client) ?? 0));
  return structsHeld && [...d.ds.clients].every(([client, ranges]) => ranges.every((r) => rangeDeleted(deleted.clients.get(client), r.clock, r.len)));
}

describe('coveredSnapshot read off the bytes (walkHeld)', () => {
  it('answers as Yjs decoding does over random histories: single updates, merges with gaps (Skips), states with GC structs, diffs', () => {
    let walked = 0;
    let held = 0;
    let total = 0;
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed);
      // Client ids across varuint sizes, one above 2^31.
      const docs = [3, 70_000, 4_294_967_000].map((id) => {
        const d = new Y.Doc();
        d.clientID = id;
        return d;
      });
      const rows: Uint8Array[] = [];
      for (let i = 0; i < 40; i++) {
        const doc = docs[Math.floor(r() * docs.length)]!;
        const u = capture(doc, () => randomEdit(doc, r, `${seed}.${i}`));
        rows.push(u);
        for (const other of docs) if (other !== doc && r() < 0.6) Y.applyUpdate(other, u);
      }
      const target = docs[0]!;
      const pick = () => rows[Math.floor(r() * rows.length)]!;
      const candidates = [
        ...rows,
        // Non-adjacent rows of one client merge into a section with a Skip over the gap.
        ...Array.from({ length: 10 }, () => Y.mergeUpdates([pick(), pick(), pick()])),
        Y.mergeUpdates(rows),
        // Whole states: deleted content is GC structs there (gc on).
        ...docs.map((d) => Y.encodeStateAsUpdate(d)),
        ...docs.map((d) => Y.encodeStateAsUpdate(d, Y.encodeStateVector(target))),
      ];
      const state = Y.decodeStateVector(Y.encodeStateVector(target));
      const deleted = Y.createDeleteSetFromStructStore(target.store);
      const snap = coveredSnapshot(target);
      for (const row of candidates) {
        const want = decodedHeld(row, state, deleted);
        for (const st of Y.decodeUpdate(row).structs) kinds.add(st.constructor.name);
        const fast = walkHeld(row, state, deleted);
        if (fast !== null) {
          walked++;
          expect(fast).toBe(want);
        }
        expect(snap.holds(row)).toBe(want);
        if (want) held++;
        total++;
      }
    }
    // Both answers occur, and the walker (not the fallback) gave most of them.
    expect(held).toBeGreaterThan(total / 10);
    expect(held).toBeLessThan(total - total / 10);
    expect(walked).toBeGreaterThan(total / 2);
    expect([...kinds].sort()).toEqual(['GC', 'Item', 'Skip']);
  });

  it('leaves to Yjs what the bytes do not tell: a string\'s length, a truncated row, trailing bytes', () => {
    const doc = new Y.Doc();
    const text = capture(doc, () => doc.getText('t').insert(0, 'a😀b'));
    const array = capture(doc, () => doc.getArray('a').push([{ x: 1 }]));
    const state = Y.decodeStateVector(Y.encodeStateVector(doc));
    const deleted = Y.createDeleteSetFromStructStore(doc.store);
    expect(walkHeld(text, state, deleted)).toBe(null);
    expect(coveredSnapshot(doc).holds(text)).toBe(true);
    expect(walkHeld(array, state, deleted)).toBe(true);
    expect(walkHeld(array.subarray(0, array.length - 2), state, deleted)).toBe(null);
    expect(walkHeld(new Uint8Array([...array, 0]), state, deleted)).toBe(null);
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
