/** The `messages` table's row, as every Store backend reads it, and its mapping to a StoredMessage. */
import type { StoredMessage } from './store.ts';

export interface MessageDbRow {
  thread_id: string;
  seq: number;
  id: string;
  author_id: string;
  text: string;
  client_sent_at: number;
  reply_to: string | null;
  sent_at: number;
  state: StoredMessage['state'];
  at_uri: string | null;
  at_cid: string | null;
  error: string | null;
  /** 1/true once the message was deleted (its text is gone). */
  redacted?: number | boolean | null;
  edited_at?: number | null;
}

export function toMessage(r: MessageDbRow): StoredMessage {
  const m: StoredMessage = {
    threadId: r.thread_id,
    id: r.id,
    authorId: r.author_id,
    text: r.text,
    clientSentAt: r.client_sent_at,
    seq: r.seq,
    sentAt: r.sent_at,
    state: r.state,
  };
  if (r.reply_to) m.replyTo = r.reply_to;
  if (r.at_uri) m.atUri = r.at_uri;
  if (r.at_cid) m.atCid = r.at_cid;
  if (r.error) m.error = r.error;
  if (r.redacted) m.redacted = true;
  if (r.edited_at != null) m.editedAt = Number(r.edited_at);
  return m;
}
