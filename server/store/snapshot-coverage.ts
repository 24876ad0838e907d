/**
 * Which stored log rows a document's snapshot already holds, so a compaction merges only
 * the others into it. Merging every row (decoding and re-encoding the whole snapshot each
 * time) cost a compaction O(thread size) in Yjs work; a row the document holds adds nothing.
 */
import * as Y from 'yjs';
import { Roots } from '../../shared/schema.ts';

/** A snapshot of a document and a test of whether it holds a given update. */
export interface CoveredSnapshot {
  /** `Y.encodeStateAsUpdate` of the document. */
  update: Uint8Array;
  /** The document has deletion markers (`redactions`): merged rows must lose deleted messages' content. */
  deletions: boolean;
  /**
   * True when applying `row` to the snapshot would change nothing: each of its structs is
   * below the snapshot's clock for its client, and each range it deletes is deleted there.
   */
  holds: (row: Uint8Array) => boolean;
}

/**
 * Takes the snapshot and what it holds in the same synchronous step: a document that changes
 * afterwards must not make a row look held that the snapshot lacks.
 */
export function coveredSnapshot(doc: Y.Doc): CoveredSnapshot {
  const update = Y.encodeStateAsUpdate(doc);
  const state = Y.decodeStateVector(Y.encodeStateVector(doc));
  const deleted = Y.createDeleteSetFromStructStore(doc.store);
  return {
    update,
    deletions: doc.getMap(Roots.redactions).size > 0,
    holds(row) {
      let decoded: ReturnType<typeof Y.decodeUpdate>;
      try {
        decoded = Y.decodeUpdate(row);
      } catch {
        return false; // not ours to judge: the merge keeps or rejects it as before
      }
      for (const s of decoded.structs) {
        if (s instanceof Y.Skip) continue;
        if (s.id.clock + s.length > (state.get(s.id.client) ?? 0)) return false;
      }
      for (const [client, ranges] of decoded.ds.clients) {
        const have = deleted.clients.get(client);
        for (const r of ranges) if (!rangeDeleted(have, r.clock, r.len)) return false;
      }
      return true;
    },
  };
}

/** Whether [clock, clock + len) lies inside the sorted, merged ranges `ranges`. */
export function rangeDeleted(ranges: ReadonlyArray<{ clock: number; len: number }> | undefined, clock: number, len: number): boolean {
  if (len <= 0) return true;
  if (!ranges || ranges.length === 0) return false;
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ranges[mid]!.clock <= clock) lo = mid;
    else hi = mid - 1;
  }
  const r = ranges[lo]!;
  return r.clock <= clock && clock + len <= r.clock + r.len;
}
