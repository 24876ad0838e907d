/**
 * The one row a compaction or a redaction writes in place of a thread's update log: the
 * caller's snapshot plus the stored rows it does not hold (another instance appended them),
 * without the text of deleted messages (docs/design/message-lifecycle.md).
 *
 * `Y.mergeUpdates` keeps the content of deleted items: a row that still carries a deleted
 * message's record or revision — written by an instance that had not applied the purge yet,
 * or by a compaction whose snapshot predates it — would bring the text back into the log
 * next to the deletion. When that can happen, the rows are applied to a document with gc on
 * (deleted content becomes lengths) and the leftovers of marked messages are removed by the
 * same function the relay's document uses (`removeRedacted`).
 */
import * as Y from 'yjs';
import { removeRedacted, unpurged } from '../../shared/message-lifecycle.ts';
import { Roots, threadRoots } from '../../shared/schema.ts';

/**
 * `snapshot` merged with `rows` (rows it does not hold). `deletions`: the snapshot's document
 * has deletion markers (the room knows at no cost); then, or when one of the rows carries a
 * marker, the merge goes through a document (O(thread) in Yjs work, only then); otherwise
 * it is a plain `Y.mergeUpdates`.
 */
export function mergeLogRows(snapshot: Uint8Array, rows: Uint8Array[], deletions = true): Uint8Array {
  if (rows.length === 0) return snapshot;
  if (!deletions && !rows.some(carriesMarker)) return Y.mergeUpdates([snapshot, ...rows]);
  const doc = new Y.Doc(); // gc on: deleted items keep only ids and lengths
  try {
    doc.transact(() => {
      Y.applyUpdate(doc, snapshot);
      for (const r of rows) Y.applyUpdate(doc, r);
    });
    const roots = threadRoots(doc);
    const left = unpurged(roots);
    if (left.length) doc.transact(() => removeRedacted(roots, left));
    return Y.encodeStateAsUpdate(doc);
  } finally {
    doc.destroy();
  }
}

/** Whether an update writes a deletion marker (a `redactions` entry); undecodable: assume so. */
function carriesMarker(row: Uint8Array): boolean {
  try {
    return Y.decodeUpdate(row).structs.some((s) => s instanceof Y.Item && (s.parent as unknown) === Roots.redactions);
  } catch {
    return true;
  }
}
