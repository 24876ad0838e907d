/**
 * Messages ingested from AT (server/ingest/) appended to a room's document, in order,
 * skipping ids the thread already has. Runs in the room's chain with client updates; the
 * update and the message rows (state `confirmed`: they are records already, never mirrored
 * again) are stored in one commit, then peers get the update and the canon entries.
 */
import * as Y from 'yjs';
import { GenerationSealedError, type MessageCandidate, type StoredMessage } from '../store/store.ts';
import { encodeUpdate } from '../sync-protocol.ts';
import { type IngestedMessage, RoomSealedError } from '../thread-room-parts.ts';
import { INGEST_ORIGIN, type RoomHost } from './room-host.ts';

export function appendIngested(room: RoomHost, items: IngestedMessage[]): Promise<StoredMessage[]> {
  return room.chain.run(async () => {
    const thread = room.thread();
    if (room.sealed()) throw new RoomSealedError(thread.id);
    const ids = new Set<string>();
    const fresh = items.filter((i) => {
      const id = i.message.id;
      if (ids.has(id) || room.roots.canon.has(id) || room.uncanonIds.has(id)) return false;
      ids.add(id);
      return true;
    });
    if (fresh.length === 0) return [];
    const update = appendUpdate(room.doc, () => room.roots.messages.push(fresh.map((i) => i.message)));
    const candidates = fresh.map((i): MessageCandidate => ({ record: i.message, state: 'confirmed', atUri: i.atUri, atCid: i.atCid }));
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
