/**
 * The AT Protocol record a Skein message is mirrored as (lexicon JSON next to this file,
 * in shared/lexicons/). Pure data: validation with @atproto/lexicon happens in the relay.
 */
import type { MessageRecord } from './schema.ts';

/** NSID of the message record collection. */
export const MESSAGE_NSID = 'dev.skein.chat.message';
/** NSID of the thread record collection (record key = the origin relay's thread id). */
export const THREAD_NSID = 'dev.skein.chat.thread';

/** The record of a thread, written once by the relay that created it. */
export interface AtThreadRecord {
  $type: typeof THREAD_NSID;
  title: string;
  /** ISO 8601. */
  createdAt: string;
  /** The other repos (DIDs) whose message records belong to the thread: its remote members. */
  members?: string[];
}

/** `at://<did>/dev.skein.chat.thread/<threadId>`: a thread's global identity. */
export function threadAtUri(did: string, threadId: string): string {
  return `at://${did}/${THREAD_NSID}/${threadId}`;
}

/** A DID this relay resolves (did:plc or did:web). */
export const isDid = (s: string): boolean => s.length <= 2048 && /^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9._:%-]+)$/.test(s);

/** `{did, rkey}` of a thread URI, or null when `uri` is not one. */
export function parseThreadAtUri(uri: string): { did: string; rkey: string } | null {
  const m = /^at:\/\/(did:(?:plc:[a-z2-7]{24}|web:[a-zA-Z0-9._:%-]+))\/dev\.skein\.chat\.thread\/([0-9A-Za-z._:~-]{1,64})$/.exec(uri);
  if (!m || m[2] === '.' || m[2] === '..') return null;
  return { did: m[1]!, rkey: m[2]! };
}

/** The record as stored in the relay's repo under `<did>/dev.skein.chat.message/<message id>`. */
export interface AtMessageRecord {
  $type: typeof MESSAGE_NSID;
  thread: string;
  /** The thread's global identity (its thread record's URI), when it has one. */
  threadUri?: string;
  author: string;
  text: string;
  seq: number;
  /** ISO 8601 of the relay's `sentAt`. */
  sentAt: string;
  replyTo?: string;
  /** ISO 8601 of the author's clock when the current text was written (absent: never edited). */
  editedAt?: string;
}

/** Builds the AT record of a canonical message. */
export function toAtRecord(threadId: string, m: MessageRecord & { seq: number; sentAt: number; editedAt?: number }, threadUri?: string | null): AtMessageRecord {
  const r: AtMessageRecord = {
    $type: MESSAGE_NSID,
    thread: threadId,
    ...(threadUri ? { threadUri } : {}),
    author: m.authorId,
    text: m.text,
    seq: m.seq,
    sentAt: new Date(m.sentAt).toISOString(),
  };
  if (m.replyTo) r.replyTo = m.replyTo;
  if (m.editedAt !== undefined) r.editedAt = new Date(m.editedAt).toISOString();
  return r;
}

/**
 * Record keys are the message id. The id charset is the record-key charset, but the
 * AT spec additionally forbids the keys `.` and `..`.
 */
export function isValidRecordKey(id: string): boolean {
  return /^[0-9A-Za-z._:~-]{1,512}$/.test(id) && id !== '.' && id !== '..';
}
