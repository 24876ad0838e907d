/**
 * Bulk loader for the windowed-threads bench: writes a thread's history through the relay's
 * own commit path (`Store.commitMessages` with real Yjs updates carrying real message
 * records, then `Store.rollGeneration`), so the result is what live traffic leaves behind:
 * message rows of sealed generations and, for the live one, its update log. Only the
 * transport (WebSocket, policy) is skipped, which would take minutes per million.
 */
import * as Y from 'yjs';
import { type MessageRecord, threadRoots } from '../../../shared/schema.ts';
import type { MessageCandidate, Store } from '../../../server/store/store.ts';

export interface BulkOptions {
  /** Messages to write. */
  messages: number;
  /** Messages per generation (the relay's SKEIN_GENERATION_MESSAGES); 0 writes one generation (today's layout). */
  perGeneration: number;
  authors: string[];
  /** Text of message i. */
  text?: (i: number) => string;
  /** Id of message i (default: a cheap sequential id, which compresses far better than real ULIDs). */
  id?: (i: number) => string;
}

/** A 26-character id like the SDK's ULIDs (same bytes at rest), without ulid()'s per-call randomness cost. */
const bulkId = (i: number): string => `01BULK${i.toString(32).toUpperCase().padStart(20, '0')}`;

const emptyGeneration = (): Uint8Array => {
  const d = new Y.Doc();
  threadRoots(d);
  const u = Y.encodeStateAsUpdate(d);
  d.destroy();
  return u;
};

/** Writes `opts.messages` messages into `threadId` (which must exist, empty, at generation 0). */
export async function bulkLoad(store: Store, threadId: string, opts: BulkOptions): Promise<void> {
  const per = opts.perGeneration > 0 ? opts.perGeneration : opts.messages;
  const text = opts.text ?? ((i: number) => `message number ${i} of the bulk loaded history, a line of ordinary chat length`);
  const id = opts.id ?? bulkId;
  let written = 0;
  for (let g = 0; written < opts.messages; g++) {
    const n = Math.min(per, opts.messages - written);
    // Sealed generations keep only their message rows, so one writing client per generation
    // leaves the same history as many would; the records alternate authors as in a chat.
    const doc = new Y.Doc();
    const candidates: MessageCandidate[] = [];
    const arr = threadRoots(doc).messages;
    const records: MessageRecord[] = [];
    for (let i = 0; i < n; i++) {
      const a = (written + i) % opts.authors.length;
      records.push({ id: id(written + i), authorId: opts.authors[a]!, text: text(written + i), clientSentAt: Date.now() });
    }
    doc.transact(() => arr.insert(0, records));
    for (const record of records) candidates.push({ record, state: 'sent' });
    const update = Y.encodeStateAsUpdate(doc);
    await store.commitMessages(threadId, [update], candidates, Date.now());
    written += n;
    if (opts.perGeneration > 0 && n === per) await store.rollGeneration(threadId, g, emptyGeneration(), []);
    doc.destroy();
  }
}
