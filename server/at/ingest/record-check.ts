/**
 * Decides what one operation of a verified commit becomes. Anyone can write anything into
 * their own repo, so a record is accepted only when it is a well-formed message (lexicon,
 * record key, limits) for a local thread that lists its repo's DID as a remote member.
 * Reasons are short codes: never the record's text.
 */
import { MESSAGE_NSID, type AtMessageRecord } from '../../../shared/at-lexicon.ts';
import { ID_PATTERN, type MessageRecord, isValidUserId } from '../../../shared/schema.ts';
import { checkRecord } from '../at-record.ts';
import type { ThreadRow } from '../../store/store.ts';
import type { CommitStatus } from './ingest-store.ts';
import { ingestedMessage } from './ingested-message.ts';

export interface OpInput {
  action: 'create' | 'update' | 'delete';
  did: string;
  collection: string;
  rkey: string;
  record?: unknown;
}

export type OpVerdict =
  | { status: 'applied'; threadId: string; message: MessageRecord }
  | { status: Exclude<CommitStatus, 'applied'>; reason: string };

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
}

const reject = (reason: string): OpVerdict => ({ status: 'rejected', reason });

export async function checkOperation(op: OpInput, ctx: CheckContext): Promise<OpVerdict> {
  if (op.did === ctx.ownDid) return { status: 'duplicate', reason: 'own_record' };
  if (op.collection !== MESSAGE_NSID) return reject('unsupported_collection');
  if (op.action === 'delete') return reject('delete_not_applied');
  if (!ID_PATTERN.test(op.rkey)) return reject('bad_rkey');
  const lex = checkRecord(op.rkey, op.record as AtMessageRecord);
  if (!lex.ok) return reject(lex.code === 'INVALID_RECORD_KEY' ? 'bad_rkey' : 'invalid_record');
  const r = op.record as AtMessageRecord;
  if (r.text.length > ctx.maxTextLength) return reject('text_too_long');
  if (!isValidUserId(r.author) || r.author.includes('@did:')) return reject('invalid_author');
  if (r.replyTo !== undefined && !ID_PATTERN.test(r.replyTo)) return reject('invalid_reply_to');
  if (await ctx.wasIngested(op.did, op.collection, op.rkey)) {
    // Messages are append-only: a later version of an ingested record is not applied.
    return op.action === 'update' ? reject('immutable_record') : { status: 'duplicate', reason: 'already_ingested' };
  }
  // A shared thread is named by its global identity; `thread` (the writer's local id) is
  // only used by records without one.
  const thread = r.threadUri ? await ctx.getThreadByAtUri(r.threadUri) : await ctx.getThread(r.thread);
  if (!thread) return reject('unknown_thread');
  if (!thread.remotes.includes(op.did)) return reject('not_a_remote_member');
  if (thread.archived) return reject('thread_archived');
  if (await ctx.hasMessage(thread.id, op.rkey)) return { status: 'duplicate', reason: 'message_exists' };
  const message = ingestedMessage(op.did, op.rkey, r);
  if (!isValidUserId(message.authorId)) return reject('invalid_author');
  return { status: 'applied', threadId: thread.id, message };
}

/** The commit's status from its operations' verdicts: applied if any was, else the first other. */
export function commitStatus(verdicts: OpVerdict[]): { status: CommitStatus; reason: string | null } {
  if (verdicts.some((v) => v.status === 'applied')) return { status: 'applied', reason: null };
  const first = verdicts[0];
  if (!first || first.status === 'applied') return { status: 'rejected', reason: 'no_operations' };
  return { status: first.status, reason: first.reason };
}
