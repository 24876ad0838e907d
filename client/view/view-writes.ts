/**
 * Writing into a thread's live document: building and checking message records (the text
 * limit, the record schema), and appending them so that they are durable in IndexedDB and
 * tracked by the send queue. Always into the live generation the caller passes.
 */
import { type MessageRecord, validateMessageRecord } from '../../shared/schema.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import { afterPendingWrites } from '../local/local-store.ts';
import type { SendQueue } from '../local/send-queue.ts';

/** Raised for refused sends and relay errors; `code` is normalized. */
export class SkeinError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SkeinError';
  }
}

/** A new message record of `userId`, checked against the relay's text limit `max`. */
export function newRecord(id: string, userId: string, text: string, opts: { replyTo?: string }, max: number): MessageRecord {
  const record: MessageRecord = { id, authorId: userId, text, clientSentAt: Date.now() };
  if (opts.replyTo !== undefined) record.replyTo = opts.replyTo;
  if (text.length > max) throw new SkeinError('TEXT_TOO_LONG', `the text has ${text.length} characters; this relay takes at most ${max}`);
  const valid = validateMessageRecord(record, max);
  if (!valid.ok) throw new SkeinError('BAD_REQUEST', `cannot send: ${valid.reason}`);
  return record;
}

/**
 * Records for messages written elsewhere (a guest session), as `userId`'s, skipping ids in
 * `have` (and adding the new ones to it), in order.
 */
export function importedRecords(
  list: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string }>,
  have: Set<string>,
  userId: string,
  max: number,
): MessageRecord[] {
  const records: MessageRecord[] = [];
  for (const m of list) {
    if (have.has(m.id)) continue;
    const r: MessageRecord = { id: m.id, authorId: userId, text: m.text, clientSentAt: m.clientSentAt };
    if (m.replyTo !== undefined) r.replyTo = m.replyTo;
    const v = validateMessageRecord(r, max);
    if (!v.ok) throw new SkeinError('BAD_REQUEST', `cannot import ${m.id}: ${v.reason}`);
    records.push(r);
    have.add(m.id);
  }
  return records;
}

/**
 * Appends `records` at the end of the live document and resolves once they are durable in
 * IndexedDB; the send queue tracks them from the moment they are appended.
 */
export function appendDurably(gen: LiveGeneration, records: MessageRecord[], origin: unknown, queue: SendQueue, threadId: string): Promise<void> {
  const messages = gen.roots.messages;
  // insert at the end, not push: push walks the list (DESIGN.md, measured).
  gen.doc.transact(() => messages.insert(messages.length, records), origin);
  // y-indexeddb queued its write synchronously in the update handler above.
  const durable = afterPendingWrites(gen.persistence.db!, 'updates');
  const now = Date.now();
  for (const r of records) queue.add(r.id, { threadId, createdAt: now });
  return durable;
}
