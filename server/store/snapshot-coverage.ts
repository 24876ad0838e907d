/**
 * Which stored log rows a document's snapshot already holds, so a compaction merges only
 * the others into it. Merging every row (decoding and re-encoding the whole snapshot each
 * time) cost a compaction O(thread size) in Yjs work; a row the document holds adds nothing.
 */
import * as Y from 'yjs';
import { Roots } from '../../shared/schema.ts';
import { SKIP_REF, UNEXPECTED_UPDATE, UpdateWalker } from './update-walk.ts';

/** A document's clocks per client (`Y.decodeStateVector`). */
export type StateVector = Map<number, number>;
/** What a document has deleted (`Y.createDeleteSetFromStructStore`). */
export type DeleteSet = ReturnType<typeof Y.createDeleteSetFromStructStore>;

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
    holds: (row) => walkHeld(row, state, deleted) ?? decodeHeld(row, state, deleted),
  };
}

/** One walker for every call: nothing in a walk awaits. */
const walker = new UpdateWalker();

/**
 * `holds` read off the row's bytes (update-walk.ts): each struct's clock range and each
 * deleted range, content skipped. A compaction asks this of every row in the log, and
 * `Y.decodeUpdate` built every Item, string and JSON value of each just to read their clocks
 * (issue 29: 6 % of what a relay allocated at 5 messages a second per client). Null where
 * the bytes do not tell (a string's length, a shape the walker does not know): ask Yjs then.
 */
export function walkHeld(row: Uint8Array, state: StateVector, deleted: DeleteSet): boolean | null {
  try {
    return walk(row, state, deleted);
  } catch (err) {
    if (err === UNEXPECTED_UPDATE) return null;
    throw err;
  }
}

function walk(row: Uint8Array, state: StateVector, deleted: DeleteSet): boolean {
  const r = walker.reset(row);
  for (let clients = r.uint(); clients > 0; clients--) {
    const numStructs = r.uint();
    const have = state.get(r.uint()) ?? 0;
    let clock = r.uint();
    for (let i = 0; i < numStructs; i++) {
      const info = r.byte();
      const len = r.struct(info);
      if (Number.isNaN(len)) throw UNEXPECTED_UPDATE;
      // A Skip is a gap: it adds nothing (as in decodeHeld).
      if ((info & 0x1f) !== SKIP_REF && clock + len > have) return false;
      clock += len;
    }
  }
  for (let clients = r.uint(); clients > 0; clients--) {
    const have = deleted.clients.get(r.uint());
    for (let n = r.uint(); n > 0; n--) {
      const clock = r.uint();
      if (!rangeDeleted(have, clock, r.uint())) return false;
    }
  }
  if (r.pos !== row.length) throw UNEXPECTED_UPDATE;
  return true;
}

/** `holds` by Yjs' own decoding: the reference, for rows the walker cannot read. */
function decodeHeld(row: Uint8Array, state: StateVector, deleted: DeleteSet): boolean {
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
