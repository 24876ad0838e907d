/**
 * The AT Protocol record a Skein message is mirrored as (lexicon JSON next to this file,
 * in shared/lexicons/). Pure data: validation with @atproto/lexicon happens in the relay.
 */
import type { MessageRecord } from './schema.ts';

/** NSID of the message record collection. */
export const MESSAGE_NSID = 'dev.skein.chat.message';

/** The record as stored in the relay's repo under `<did>/dev.skein.chat.message/<message id>`. */
export interface AtMessageRecord {
  $type: typeof MESSAGE_NSID;
  thread: string;
  author: string;
  text: string;
  seq: number;
  /** ISO 8601 of the relay's `sentAt`. */
  sentAt: string;
  replyTo?: string;
}

/** Builds the AT record of a canonical message. */
export function toAtRecord(threadId: string, m: MessageRecord & { seq: number; sentAt: number }): AtMessageRecord {
  const r: AtMessageRecord = {
    $type: MESSAGE_NSID,
    thread: threadId,
    author: m.authorId,
    text: m.text,
    seq: m.seq,
    sentAt: new Date(m.sentAt).toISOString(),
  };
  if (m.replyTo) r.replyTo = m.replyTo;
  return r;
}

/**
 * Record keys are the message id. The id charset is the record-key charset, but the
 * AT spec additionally forbids the keys `.` and `..`.
 */
export function isValidRecordKey(id: string): boolean {
  return /^[0-9A-Za-z._:~-]{1,512}$/.test(id) && id !== '.' && id !== '..';
}
