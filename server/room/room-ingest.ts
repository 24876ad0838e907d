/**
 * Messages the relay appends to a room's document itself, in order, skipping ids the thread
 * already has: ingested from AT (server/at/ingest/; state `confirmed`: they are records
 * already, never mirrored again) or salvaged from a peer's copy of a sealed generation
 * (sealed-salvage.ts; state `sent`, mirrored like any message). Runs in the room's chain
 * with client updates; the update and the message rows are stored in one commit, then peers
 * get the update and the canon entries.
 */
import * as Y from 'yjs';
import { GenerationSealedError, type MessageCandidate, type StoredMessage } from '../store/store.ts';
import { encodeUpdate } from './sync-protocol.ts';
import { BackendUnavailableError, type IngestedMessage, RoomSealedError } from './room-types.ts';
import { INGEST_ORIGIN, type RoomHost } from './room-host.ts';

/** A message the relay appends, with the AT record it came from when ingested. */
export type RelayAppended = Pick<IngestedMessage, 'message'> & Partial<Pick<IngestedMessage, 'atUri' | 'atCid'>>;

export function appendByRelay(room: RoomHost, items: RelayAppended[], state: 'confirmed' | 'sent'): Promise<StoredMessage[]> {
  return room.chain.run(async () => {
    const thread = room.thread();
    if (room.sealed()) throw new RoomSealedError(thread.id);
    // As for clients' updates: refused before the document changes, so a store that is down
    // does not leave the document ahead of it (which breaks the room for every peer).
    const refused = room.opts.refuseWrites?.();
    if (refused) throw new BackendUnavailableError(refused);
    const ids = new Set<string>();
    const fresh = items.filter((i) => {
      const id = i.message.id;
      if (ids.has(id) || room.roots.canon.has(id) || room.uncanonIds.has(id)) return false;
      ids.add(id);
      return true;
    });
    if (fresh.length === 0) return [];
    const update = appendUpdate(room.doc, () => room.roots.messages.push(fresh.map((i) => i.message)));
    const candidates = fresh.map((i): MessageCandidate => (state === 'confirmed' ? { record: i.message, state, atUri: i.atUri, atCid: i.atCid } : { record: i.message, state }));
    let stored: StoredMessage[];
    try {
      stored = await room.store.commitMessages(thread.id, [update], candidates, Date.now(), { generation: thread.generation });
    } catch (err) {
      if (err instanceof GenerationSealedError) {
        await room.sealedOnWrite(err);
        throw new RoomSealedError(thread.id);
      }
      room.storageFailed('commit_failed', err, 'storing ingested messages failed');
      throw err;
    }
    room.addedRows(1);
    room.fan?.publishUpdate(thread.generation, room.doc.clientID, update);
    const frame = encodeUpdate(update);
    for (const c of room.conns) c.send(frame);
    room.writeCanon(stored);
    if (thread.mirror && stored.some((m) => m.state === 'sent')) room.opts.onMirroredCommit?.(thread.id);
    if (stored.length) room.opts.onSequenced?.(stored);
    return stored;
  });
}

/** The update one INGEST_ORIGIN transaction produces. */
function appendUpdate(doc: Y.Doc, change: () => void): Uint8Array {
  let update: Uint8Array | null = null;
  const capture = (u: Uint8Array, origin: unknown) => {
    if (origin === INGEST_ORIGIN) update = u;
  };
  doc.on('update', capture);
  try {
    doc.transact(change, INGEST_ORIGIN);
  } finally {
    doc.off('update', capture);
  }
  return update!;
}
