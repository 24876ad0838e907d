/**
 * A cheap `Y.mergeUpdates` for the relay's batch rows (issue 29): when the updates' struct
 * sections name disjoint clients (a batch's authors and the relay's own client), their merge is
 * the client sections copied side by side plus the union of their delete sets. This walks the
 * struct headers (store/update-walk.ts) to find the sections' ends, skipping content without building Items, strings
 * or JSON, which `Y.mergeUpdates` does for every struct (about 114 k instructions for a 125-byte
 * message and a 58-byte canon update).
 *
 * Output, like `Y.mergeUpdates`' (V1 encoding): client sections in descending client id — the
 * order `Y.mergeUpdates` itself relies on when it later merges this row (compaction); it may
 * drop structs of an update whose sections ascend — and the delete set sorted and merged per
 * client, clients descending. Structs are copied as they are, so adjacent structs of a client
 * are not joined as `Y.mergeUpdates` may join them: the bytes can differ, the document they
 * make does not.
 *
 * Anything else — a client in two sections, a Skip struct, an unknown content or type ref,
 * bytes that do not parse to exactly the end — falls back to `Y.mergeUpdates`.
 */
import * as Y from 'yjs';
import { SKIP_REF, UNEXPECTED_UPDATE, UpdateWalker } from '../store/update-walk.ts';

/** One client's struct section: its bytes (header included) in its update. */
interface Section {
  client: number;
  src: Uint8Array;
  start: number;
  end: number;
}

function varUintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarUint(out: Uint8Array, pos: number, n: number): number {
  while (n > 0x7f) {
    out[pos++] = 0x80 | (n % 128);
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** Sorts and merges one client's ranges (flat clock,len pairs) as Yjs' `sortAndMergeDeleteSet`. */
function sortAndMerge(flat: number[]): number[] {
  const n = flat.length / 2;
  if (n === 1) return flat;
  const ranges: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) ranges.push([flat[i]!, flat[i + 1]!]);
  ranges.sort((a, b) => a[0] - b[0]);
  const out: number[] = [ranges[0]![0], ranges[0]![1]];
  for (let i = 1; i < n; i++) {
    const [clock, len] = ranges[i]!;
    const last = out.length - 2;
    const lClock = out[last]!;
    const lLen = out[last + 1]!;
    if (lClock + lLen >= clock) out[last + 1] = Math.max(lLen, clock + len - lClock);
    else out.push(clock, len);
  }
  return out;
}

/**
 * Merges V1 updates whose struct sections name disjoint clients by copying the sections and
 * uniting the delete sets; null when that does not apply (the caller falls back to
 * `Y.mergeUpdates`). Applying the result gives the same document as applying
 * `Y.mergeUpdates(updates)`.
 */
export function concatDisjointUpdates(updates: readonly Uint8Array[]): Uint8Array | null {
  try {
    return concat(updates);
  } catch (err) {
    if (err === UNEXPECTED_UPDATE) return null;
    throw err;
  }
}

/** One walker for every call (the relay runs one merge at a time; nothing in a walk awaits). */
const walker = new UpdateWalker();

function concat(updates: readonly Uint8Array[]): Uint8Array | null {
  const sections: Section[] = [];
  let dels: Map<number, number[]> | null = null;
  const r = walker;
  for (const update of updates) {
    r.reset(update);
    for (let clients = r.uint(); clients > 0; clients--) {
      const start = r.pos;
      const numStructs = r.uint();
      const client = r.uint();
      r.skipVarInt(); // first clock
      for (let i = 0; i < numStructs; i++) {
        const info = r.byte();
        // A Skip leaves a gap: Y.mergeUpdates fills it or keeps it as it must.
        if ((info & 0x1f) === SKIP_REF) throw UNEXPECTED_UPDATE;
        r.struct(info);
      }
      // Y.mergeUpdates writes no section without structs.
      // A client in two sections (of one update or two) is left to Y.mergeUpdates: checked
      // after the sort below, so a zero-struct section is not checked (it is not copied).
      if (numStructs > 0) sections.push({ client, src: update, start, end: r.pos });
    }
    for (let clients = r.uint(); clients > 0; clients--) {
      const client = r.uint();
      const n = r.uint();
      if (n === 0) continue;
      dels ??= new Map();
      let flat = dels.get(client);
      if (!flat) dels.set(client, (flat = []));
      for (let i = 0; i < n; i++) flat.push(r.uint(), r.uint());
    }
    if (r.pos !== update.length) return null;
  }
  sections.sort((a, b) => b.client - a.client);

  let size = varUintSize(sections.length);
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i]!;
    if (i > 0 && sections[i - 1]!.client === s.client) return null;
    size += s.end - s.start;
  }
  let ds: [number, number[]][] = [];
  if (dels) {
    ds = [...dels].sort((a, b) => b[0] - a[0]);
    for (const entry of ds) entry[1] = sortAndMerge(entry[1]);
  }
  size += varUintSize(ds.length);
  for (const [client, flat] of ds) {
    size += varUintSize(client) + varUintSize(flat.length / 2);
    for (const v of flat) size += varUintSize(v);
  }

  const out = new Uint8Array(size);
  let pos = writeVarUint(out, 0, sections.length);
  for (const s of sections) {
    out.set(s.src.subarray(s.start, s.end), pos);
    pos += s.end - s.start;
  }
  pos = writeVarUint(out, pos, ds.length);
  for (const [client, flat] of ds) {
    pos = writeVarUint(out, pos, client);
    pos = writeVarUint(out, pos, flat.length / 2);
    for (const v of flat) pos = writeVarUint(out, pos, v);
  }
  return out;
}

/** `Y.mergeUpdates`, through the disjoint-clients copy when it applies. */
export function mergeUpdatesFast(updates: Uint8Array[]): Uint8Array {
  if (updates.length === 1) return updates[0]!;
  return concatDisjointUpdates(updates) ?? Y.mergeUpdates(updates);
}
