/** A relay's thread document as the in-process benches build it (validation, writers). */
import * as Y from 'yjs';
import { type MessageRecord, threadRoots } from '../../shared/schema.ts';

/** Message `i`: an id that sorts by `i`, and a line of ordinary chat text. */
export const benchRecord = (i: number, authorId: string): MessageRecord => ({
  id: `m${i.toString(36).padStart(8, '0')}`,
  authorId,
  text: `message number ${i} with some ordinary chat text`,
  clientSentAt: 1_700_000_000_000 + i,
});

/**
 * The relay's document of a thread with `messages` messages written by `writers` client ids
 * (one struct per message, as in a real thread), and canon for each.
 */
export function relayThread(messages: number, writers: number) {
  const doc = new Y.Doc();
  const roots = threadRoots(doc);
  const relayId = doc.clientID;
  for (let i = 0; i < messages; i++) {
    doc.clientID = 1 + (i % writers);
    roots.messages.insert(roots.messages.length, [benchRecord(i, `user${i % 50}`)]);
  }
  doc.clientID = relayId;
  doc.transact(() => {
    for (let i = 0; i < messages; i++) roots.canon.set(benchRecord(i, '').id, { seq: i + 1, sentAt: 1, state: 'sent' });
  });
  return { doc, roots };
}
