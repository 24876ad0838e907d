/**
 * Document order of array entries identified by their struct ids.
 *
 * An update carrying several new messages lists its structs grouped by client, so the
 * order in which the policy meets them is not the order members see. Sequencing must use
 * the order of the `messages` array itself, or syncing would reorder what an author wrote
 * in two tabs while offline.
 */
import * as Y from 'yjs';

/** Something that lives at struct id (client, clock) of one Y.Array. */
export interface Positioned {
  client: number;
  clock: number;
}

/**
 * Returns `entries` sorted by their position in the array that holds them. Cost: the
 * items between the leftmost entry and the array's end (new messages sit near the end), not
 * the array's length. Entries whose struct is not found keep their relative order, last.
 */
export function inDocumentOrder<T extends Positioned>(doc: Y.Doc, entries: T[]): T[] {
  if (entries.length < 2) return entries;
  const byItem = new Map<Y.Item, T[]>();
  const missing: T[] = [];
  for (const e of entries) {
    let item: Y.Item | undefined;
    try {
      const s = Y.getItem(doc.store, Y.createID(e.client, e.clock));
      if (s instanceof Y.Item) item = s;
    } catch {
      // getItem throws for a clock the store does not have
    }
    if (!item) {
      missing.push(e);
      continue;
    }
    const list = byItem.get(item);
    if (list) list.push(e);
    else byItem.set(item, [e]);
  }
  if (byItem.size === 0) return entries;
  // Walk to the end from any entry, then back left until every entry's item was seen.
  let end: Y.Item = byItem.keys().next().value!;
  while (end.right) end = end.right;
  const ordered: T[] = [];
  let left = byItem.size;
  for (let n: Y.Item | null = end; n && left > 0; n = n.left) {
    const here = byItem.get(n);
    if (!here) continue;
    left--;
    // Several records appended in one run share an item; within it, clock order is array order.
    here.sort((a, b) => b.clock - a.clock);
    ordered.push(...here);
  }
  ordered.reverse();
  return left === 0 ? [...ordered, ...missing] : entries;
}
