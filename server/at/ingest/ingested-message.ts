/**
 * The message an accepted AT record becomes in its thread. Its own module so that the
 * applier (always loaded: it replays records a crash left pending) does not pull in the
 * lexicon validator that only checking new records needs.
 */
import type { AtMessageRecord } from '../../../shared/at-lexicon.ts';
import { type MessageRecord, remoteAuthorId } from '../../../shared/schema.ts';

/** The message an accepted record becomes in its thread (the author shown with its origin DID). */
export function ingestedMessage(did: string, rkey: string, r: AtMessageRecord): MessageRecord {
  const sentAt = Date.parse(r.sentAt);
  const message: MessageRecord = {
    id: rkey,
    authorId: remoteAuthorId(r.author, did),
    text: r.text,
    clientSentAt: Number.isFinite(sentAt) ? sentAt : 0,
  };
  if (r.replyTo) message.replyTo = r.replyTo;
  return message;
}
