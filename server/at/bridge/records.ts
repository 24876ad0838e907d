/**
 * Outbox rows to AT writes: each claimed message becomes its lexicon record (checked before
 * it is sent), and the writes are packed into applyWrites calls under the body size limit.
 */
import { type AtMessageRecord, toAtRecord } from '../../../shared/at-lexicon.ts';
import { checkRecord } from '../at-record.ts';
import type { MessageKey, OutboxItem, PermanentFailure, StoredMessage } from '../../store/store.ts';

/** One claimed outbox row and the record it becomes. */
export interface Write {
  item: OutboxItem;
  record: AtMessageRecord;
}

export const messageKey = (m: StoredMessage): MessageKey => ({ threadId: m.threadId, messageId: m.id });

/**
 * The records of claimed rows; `uris` maps each thread to its at:// identity (or null).
 * A record the lexicon refuses is a permanent failure, never sent.
 */
export function buildWrites(items: OutboxItem[], uris: Map<string, string | null>): { writes: Write[]; invalid: PermanentFailure[] } {
  const writes: Write[] = [];
  const invalid: PermanentFailure[] = [];
  for (const item of items) {
    const m = item.message;
    const record = toAtRecord(m.threadId, m, uris.get(m.threadId));
    const check = checkRecord(m.id, record);
    if (check.ok) writes.push({ item, record });
    else invalid.push({ ...messageKey(m), code: check.code, detail: check.reason });
  }
  return { writes, invalid };
}

/** Packs writes, in order, into calls of at most `maxBytes` body (a single larger write goes alone). */
export function packWrites(writes: Write[], maxBytes: number): Write[][] {
  // The JSON of one write is a close upper bound of its share of the body.
  const chunks: Write[][] = [];
  let cur: Write[] = [];
  let bytes = 200;
  for (const w of writes) {
    const size = Buffer.byteLength(JSON.stringify(w.record)) + w.item.message.id.length + 120;
    if (cur.length > 0 && bytes + size > maxBytes) {
      chunks.push(cur);
      cur = [];
      bytes = 200;
    }
    cur.push(w);
    bytes += size;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}
