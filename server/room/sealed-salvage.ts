/**
 * What a peer's copy of a sealed generation holds that the relay may never have received:
 * its own messages, written while it was offline and the thread rolled meanwhile
 * (docs/data-model.md, "Windowed threads", invariant 4). A small pure function over the
 * peer's full state; the caller drops the ids some generation already stored and appends
 * the rest to the live generation (routes/sealed-sync.ts).
 */
import * as Y from 'yjs';
import { type MessageRecord, threadRoots, validateMessageRecord } from '../../shared/schema.ts';

/**
 * The well-formed message records of `userId` in a generation's state (the updates a peer
 * sent), in document order, each id once. Records of other authors are never taken: a peer
 * can only bring back what it wrote. An update that does not decode yields nothing.
 */
export function ownRecords(updates: Uint8Array[], userId: string, maxTextLength: number): MessageRecord[] {
  const doc = new Y.Doc();
  try {
    doc.transact(() => {
      for (const u of updates) Y.applyUpdate(doc, u);
    });
    const seen = new Set<string>();
    const out: MessageRecord[] = [];
    for (const r of threadRoots(doc).messages.toArray() as unknown[]) {
      if (!validateMessageRecord(r, maxTextLength).ok) continue;
      const m = r as MessageRecord;
      if (m.authorId !== userId || seen.has(m.id)) continue;
      seen.add(m.id);
      out.push(m);
    }
    return out;
  } catch {
    return [];
  } finally {
    doc.destroy();
  }
}
