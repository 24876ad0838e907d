/**
 * Decides what one operation of a verified commit becomes. Anyone can write anything into
 * their own repo, so a record is accepted only when it is a well-formed message (lexicon,
 * record key, limits) for a local thread that lists its repo's DID as a remote member. An
 * update of a record accepted before is an edit (only its text and `editedAt` may change),
 * a delete of one is a deletion; a repo can only ever update or delete its own records.
 * Reasons are short codes: never the record's text.
 */
import { MESSAGE_NSID, type AtMessageRecord } from '../../../shared/at-lexicon.ts';
import { ID_PATTERN, type MessageRecord, isValidUserId, remoteAuthorId } from '../../../shared/schema.ts';
import { checkRecord } from '../at-record.ts';
import type { ThreadRow } from '../../store/store.ts';
import type { CommitStatus, IngestedRecord } from './ingest-store.ts';
import { ingestedMessage } from './ingested-message.ts';

export interface OpInput {
  action: 'create' | 'update' | 'delete';
  did: string;
  collection: string;
  rkey: string;
  record?: unknown;
}

export type OpVerdict =
  | { status: 'applied'; kind: 'create'; threadId: string; message: MessageRecord }
  /** An edit (`update`) or deletion (`delete`) of a record ingested before, by its own repo. */
  | { status: 'applied'; kind: 'update' | 'delete'; threadId: string; messageId: string; authorId: string }
  | { status: Exclude<CommitStatus, 'applied'>; reason: string };

/** What the check reads of a record ingested before. */
export type IngestedOriginal = Pick<IngestedRecord, 'value' | 'threadId' | 'messageId'>;

export interface CheckContext {
  maxTextLength: number;
  /** The relay's own repo DID: its records are its own messages coming back. */
  ownDid: string | null;
  getThread(id: string): Promise<ThreadRow | null>;
  /** The local thread with this at:// identity (its own, or the one it follows). */
  getThreadByAtUri(uri: string): Promise<ThreadRow | null>;
  /** Whether the thread already holds a message with this id. */
  hasMessage(threadId: string, messageId: string): Promise<boolean>;
  /** Whether this (did, collection, rkey) was ingested before. */
  wasIngested(did: string, collection: string, rkey: string): Promise<boolean>;
  /** The record of this (did, collection, rkey) as first ingested, or null. */
  ingested(did: string, collection: string, rkey: string): Promise<IngestedOriginal | null>;
}

const reject = (reason: string): OpVerdict => ({ status: 'rejected', reason });

/**
 * Fields an edit may not change: the message's identity (design/message-lifecycle.md,
 * principle 1), and `threadUri` (checked on its own). `text` and `editedAt` are what an edit changes.
 */
const IMMUTABLE = ['thread', 'author', 'seq', 'sentAt', 'replyTo'] as const;

export async function checkOperation(op: OpInput, ctx: CheckContext): Promise<OpVerdict> {
  if (op.did === ctx.ownDid) return { status: 'duplicate', reason: 'own_record' };
  if (op.collection !== MESSAGE_NSID) return reject('unsupported_collection');
  if (!ID_PATTERN.test(op.rkey)) return reject('bad_rkey');
  if (op.action === 'delete') return checkDelete(op, ctx);
  const lex = checkRecord(op.rkey, op.record as AtMessageRecord);
  if (!lex.ok) return reject(lex.code === 'INVALID_RECORD_KEY' ? 'bad_rkey' : 'invalid_record');
  const r = op.record as AtMessageRecord;
  if (r.text.length > ctx.maxTextLength) return reject('text_too_long');
  if (!isValidUserId(r.author) || r.author.includes('@did:')) return reject('invalid_author');
  if (r.replyTo !== undefined && !ID_PATTERN.test(r.replyTo)) return reject('invalid_reply_to');
  if (op.action === 'update') {
    const original = await ctx.ingested(op.did, op.collection, op.rkey);
    if (original) return checkEdit(op, r, original, ctx);
  }
  if (await ctx.wasIngested(op.did, op.collection, op.rkey)) return { status: 'duplicate', reason: 'already_ingested' };
  // A shared thread is named by its global identity; `thread` (the writer's local id) is
  // only used by records without one.
  const thread = r.threadUri ? await ctx.getThreadByAtUri(r.threadUri) : await ctx.getThread(r.thread);
  if (!thread) return reject('unknown_thread');
  if (!thread.remotes.includes(op.did)) return reject('not_a_remote_member');
  if (thread.archived) return reject('thread_archived');
  if (await ctx.hasMessage(thread.id, op.rkey)) {
    // An update of a record this repo never had accepted, naming a message the thread holds:
    // another writer's message (its record is in another repo). A create is a mere collision.
    return op.action === 'update' ? reject('not_the_author') : { status: 'duplicate', reason: 'message_exists' };
  }
  // An update of a record never accepted (written before its repo was a member) is judged as a create.
  const message = ingestedMessage(op.did, op.rkey, r);
  if (!isValidUserId(message.authorId)) return reject('invalid_author');
  return { status: 'applied', kind: 'create', threadId: thread.id, message };
}

/**
 * An `update` of a record ingested before, from the same repo (the path is the repo's own):
 * an edit when only `text` and `editedAt` changed, the thread still counts the repo as a
 * member and is not archived.
 */
async function checkEdit(op: OpInput, r: AtMessageRecord, original: IngestedOriginal, ctx: CheckContext): Promise<OpVerdict> {
  const before = original.value as Partial<AtMessageRecord>;
  if (IMMUTABLE.some((k) => JSON.stringify(before[k]) !== JSON.stringify(r[k]))) return reject('immutable_field_changed');
  // A record written before its thread had a global identity may gain it, naming the same thread.
  if (before.threadUri !== r.threadUri && (before.threadUri !== undefined || r.threadUri === undefined || (await ctx.getThreadByAtUri(r.threadUri))?.id !== original.threadId)) {
    return reject('immutable_field_changed');
  }
  if (r.editedAt === undefined || !Number.isFinite(Date.parse(r.editedAt))) return reject('invalid_edited_at');
  const thread = await ctx.getThread(original.threadId);
  if (!thread) return reject('unknown_thread');
  if (!thread.remotes.includes(op.did)) return reject('not_a_remote_member');
  if (thread.archived) return reject('thread_archived');
  return { status: 'applied', kind: 'update', threadId: thread.id, messageId: original.messageId, authorId: remoteAuthorId(r.author, op.did) };
}

/**
 * A `delete` of a record ingested before: its author took the message back. Applied even
 * when the repo is no longer a member or the thread is archived (taking one's own words
 * back is always allowed); a record never accepted has nothing to delete.
 */
async function checkDelete(op: OpInput, ctx: CheckContext): Promise<OpVerdict> {
  const original = await ctx.ingested(op.did, op.collection, op.rkey);
  if (!original) return reject('unknown_record');
  const author = (original.value as Partial<AtMessageRecord>).author;
  if (typeof author !== 'string') return reject('invalid_record');
  if (!(await ctx.getThread(original.threadId))) return reject('unknown_thread');
  return { status: 'applied', kind: 'delete', threadId: original.threadId, messageId: original.messageId, authorId: remoteAuthorId(author, op.did) };
}

/** The commit's status from its operations' verdicts: applied if any was, else the first other. */
export function commitStatus(verdicts: OpVerdict[]): { status: CommitStatus; reason: string | null } {
  if (verdicts.some((v) => v.status === 'applied')) return { status: 'applied', reason: null };
  const first = verdicts[0];
  if (!first || first.status === 'applied') return { status: 'rejected', reason: 'no_operations' };
  return { status: first.status, reason: first.reason };
}
