/**
 * The thread document schema: root names, record types and their validation.
 * One Y.Doc per thread; the doc name is the thread id.
 */
import * as Y from 'yjs';

/** Root type names of a thread document. */
export const Roots = {
  messages: 'messages',
  canon: 'canon',
  receipts: 'receipts',
  meta: 'meta',
  /** Live streamed replies (shared/stream.ts): streamId → StreamEntry, until finished. */
  streams: 'streams',
  /** Yjs client id → the user who first wrote with it in this document (relay only). */
  owners: 'owners',
  /** Revisions of messages: `<messageId>|<editId>` → EditEntry (shared/message-lifecycle.ts). */
  edits: 'edits',
  /** Deletion markers: messageId → Redaction; the relay then removes the text. */
  redactions: 'redactions',
  /** Reactions: `<messageId>|<userId>|<emoji>` → ReactionEntry. */
  reactions: 'reactions',
} as const;

/** Ids are client-generated (ULID by default): reconciliation key and AT record key. */
export const ID_PATTERN = /^[0-9A-Za-z._:~-]{1,64}$/;
export const MAX_ID_LENGTH = 64;

/** A chat message as appended by its author to the `messages` array. */
export interface MessageRecord {
  id: string;
  authorId: string;
  text: string;
  /** Author's clock, informational only. */
  clientSentAt: number;
  replyTo?: string;
}

export type MessageState = 'sent' | 'confirmed' | 'failed' | 'rejected';

/** What the relay writes into `canon[messageId]`. */
export interface CanonInfo {
  seq: number;
  sentAt: number;
  state: MessageState;
  atUri?: string;
  atCid?: string;
  error?: string;
}

/** A read receipt, keyed `"<messageId>|<userId>"` in `receipts`. */
export interface Receipt {
  readAt: number;
}

/** Thread metadata written by the relay into `meta`. */
export interface ThreadMeta {
  title: string;
  participants: string[];
  archived: boolean;
  createdAt: number;
  mirror: boolean;
  /** The thread's at:// identity when it is shared through AT (absent otherwise). */
  atUri?: string;
  /** The user who created the thread (shared/roles.ts; absent on threads from before roles). */
  owner?: string;
  /** Users the owner made moderators (shared/roles.ts). */
  moderators?: string[];
}

/** Typed access to the roots of a thread document. */
export interface ThreadRoots {
  messages: Y.Array<MessageRecord>;
  canon: Y.Map<CanonInfo>;
  receipts: Y.Map<Receipt>;
  meta: Y.Map<unknown>;
  streams: Y.Map<StreamEntry>;
  owners: Y.Map<string>;
  edits: Y.Map<EditEntry>;
  redactions: Y.Map<Redaction>;
  reactions: Y.Map<ReactionEntry>;
}

export function threadRoots(doc: Y.Doc): ThreadRoots {
  return {
    messages: doc.getArray<MessageRecord>(Roots.messages),
    canon: doc.getMap<CanonInfo>(Roots.canon),
    receipts: doc.getMap<Receipt>(Roots.receipts),
    meta: doc.getMap<unknown>(Roots.meta),
    streams: doc.getMap<StreamEntry>(Roots.streams),
    owners: doc.getMap<string>(Roots.owners),
    edits: doc.getMap<EditEntry>(Roots.edits),
    redactions: doc.getMap<Redaction>(Roots.redactions),
    reactions: doc.getMap<ReactionEntry>(Roots.reactions),
  };
}

/** User ids may not contain `|` (the receipt key separator) or control characters. */
export function isValidUserId(id: string): boolean {
  return id.length > 0 && id.length <= 256 && !id.includes('|') && !/[\u0000-\u001f]/.test(id);
}

/**
 * Author id of a message ingested from AT: the author named in the record, `@`, and the DID
 * of the repo it came from (`alice@did:plc:…`). Local user ids can never take this form
 * (`isLocalUserId`), so a remote author is never mistaken for a local user.
 */
export function remoteAuthorId(author: string, did: string): string {
  return `${author}@${did}`;
}

const REMOTE_AUTHOR = /^(.+)@(did:[a-z]+:[a-zA-Z0-9._:%-]+)$/;

/** `{name, did}` of a remote author id, or null for a local user id. */
export function parseRemoteAuthorId(id: string): { name: string; did: string } | null {
  const m = REMOTE_AUTHOR.exec(id);
  return m ? { name: m[1]!, did: m[2]! } : null;
}

/** A user id the relay may authenticate or list as a participant: valid, and not a remote author id. */
export function isLocalUserId(id: string): boolean {
  return isValidUserId(id) && !id.includes('@did:');
}

/** Limits that validation applies unless the relay is configured otherwise. */
export const DEFAULT_MAX_TEXT_LENGTH = 10_000;

export type ValidationResult = { ok: true } | { ok: false; reason: string };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

const MESSAGE_KEYS = new Set(['id', 'authorId', 'text', 'clientSentAt', 'replyTo']);

/** Checks that `value` is a well-formed message record. Never echoes message text. */
export function validateMessageRecord(
  value: unknown,
  maxTextLength: number = DEFAULT_MAX_TEXT_LENGTH,
): ValidationResult {
  if (!isPlainObject(value)) return { ok: false, reason: 'message is not a plain object' };
  for (const k of Object.keys(value)) {
    if (!MESSAGE_KEYS.has(k)) return { ok: false, reason: `unknown field ${JSON.stringify(k).slice(0, 40)}` };
  }
  const { id, authorId, text, clientSentAt, replyTo } = value;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) return { ok: false, reason: 'invalid id' };
  if (typeof authorId !== 'string' || !isValidUserId(authorId)) {
    return { ok: false, reason: 'invalid authorId' };
  }
  if (typeof text !== 'string') return { ok: false, reason: 'text is not a string' };
  if (text.length > maxTextLength) return { ok: false, reason: 'text too long' };
  if (typeof clientSentAt !== 'number' || !Number.isFinite(clientSentAt)) {
    return { ok: false, reason: 'invalid clientSentAt' };
  }
  if (replyTo !== undefined && (typeof replyTo !== 'string' || !ID_PATTERN.test(replyTo))) {
    return { ok: false, reason: 'invalid replyTo' };
  }
  return { ok: true };
}

/** Checks a receipt value. */
export function validateReceipt(value: unknown): ValidationResult {
  if (!isPlainObject(value)) return { ok: false, reason: 'receipt is not a plain object' };
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'readAt') return { ok: false, reason: 'receipt must be {readAt}' };
  if (typeof value.readAt !== 'number' || !Number.isFinite(value.readAt) || value.readAt < 0) {
    return { ok: false, reason: 'invalid readAt' };
  }
  return { ok: true };
}

/** Key of a receipt in the `receipts` map. */
export const receiptKey = (messageId: string, userId: string): string => `${messageId}|${userId}`;

/** Splits a receipt key; null when it is not of the form `<messageId>|<userId>`. */
export function parseReceiptKey(key: string): { messageId: string; userId: string } | null {
  const i = key.indexOf('|');
  if (i <= 0 || i === key.length - 1) return null;
  return { messageId: key.slice(0, i), userId: key.slice(i + 1) };
}

/** A streamed reply's state (shared/stream.ts has its rules). */
export type StreamStatus = 'streaming' | 'interrupted';

/** The value of a `streams` entry. */
export interface StreamEntry {
  authorId: string;
  /** Author's clock when the stream started, ms. */
  startedAt: number;
  text: string;
  status: StreamStatus;
  replyTo?: string;
  /** Why it was interrupted (`aborted:<reason>` by the author, `idle` by the relay). */
  reason?: string;
}

/** A revision of a message, in `edits` under `"<messageId>|<editId>"` (design/message-lifecycle.md). */
export interface EditEntry {
  text: string;
  /** The editor's clock, ms: with the editId, orders the revisions. */
  editedAt: number;
}

/** A deletion marker, in `redactions` under the message id: final once written. */
export interface Redaction {
  /** The user who deleted the message (its author or a moderator). */
  by: string;
  /** Their clock, ms. */
  at: number;
}

/** A reaction, in `reactions` under `"<messageId>|<userId>|<emoji>"`; removing it deletes the key. */
export interface ReactionEntry {
  at: number;
}
