/**
 * One flush of a room travels as one update: the batch's client updates and the relay's own
 * update for them (canon, tombstones, receipt maxima) are merged into one log row and one
 * frame per peer, instead of a row and a frame for each plus a second commit for the canon.
 */
import type { RelayRow } from '../store/store.ts';
import type { SyncConnection } from './sync-connection.ts';
import { encodeUpdate } from './sync-protocol.ts';
import { mergeUpdatesFast } from './disjoint-merge.ts';

/** An accepted client update of the batch, with the connection it came from. */
export interface Produced {
  conn: SyncConnection;
  update: Uint8Array;
}

/**
 * Merges updates (none: null; one: itself, no copy). Authors' and the relay's updates name
 * disjoint clients as a rule, so their sections are copied side by side (disjoint-merge.ts).
 */
export function mergeAll(updates: Uint8Array[]): Uint8Array | null {
  if (updates.length === 0) return null;
  return mergeUpdatesFast(updates);
}

/** The commit row of a batch: its client updates with the relay's update merged in. */
export function batchRow(clientUpdates: Uint8Array[], relay: Uint8Array | null): RelayRow {
  return { relay, merged: mergeAll(relay ? [...clientUpdates, relay] : clientUpdates)! };
}

/**
 * Sends a stored batch to the room's connections, one frame each. A lone author gets only the
 * relay's part (it has its own update); with several authors, each gets the whole batch
 * (Yjs skips structs it has), which spares a merge per author.
 */
export function sendBatch(conns: Iterable<SyncConnection>, produced: Produced[], row: RelayRow): void {
  const frame = encodeUpdate(row.merged);
  const author = produced.length > 0 && produced.every((p) => p.conn === produced[0]!.conn) ? produced[0]!.conn : null;
  const authorFrame = author && row.relay ? encodeUpdate(row.relay) : null;
  for (const c of conns) {
    if (c !== author) c.send(frame);
    else if (authorFrame) c.send(authorFrame);
  }
}
