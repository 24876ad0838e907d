/**
 * Row shapes of the PostgreSQL store's tables and their mapping to the Store's types.
 */
import { liveDocName } from '../../shared/generation.ts';
import type { MessageKey, StoredMessage, ThreadRow } from './store.ts';
export { type MessageDbRow, toMessage } from './message-row.ts';

export interface ThreadDbRow {
  id: string;
  title: string;
  mirror: boolean;
  archived: boolean;
  created_at: number;
  last_seq: number;
  at_uri: string | null;
  generation: number;
  base_seq: number;
  participants: string[];
  moderators: string[];
  owner: string | null;
  remotes: string[];
}

export const THREAD_COLS = `t.id, t.title, t.mirror, t.archived, t.created_at, t.last_seq, t.at_uri, t.generation, t.base_seq, t.owner,
  ARRAY(SELECT user_id FROM members WHERE thread_id = t.id ORDER BY pos) AS participants,
  ARRAY(SELECT user_id FROM members WHERE thread_id = t.id AND moderator ORDER BY pos) AS moderators,
  ARRAY(SELECT did FROM thread_remotes WHERE thread_id = t.id ORDER BY pos) AS remotes`;

export const MESSAGE_COLS = 'thread_id, seq, id, author_id, text, client_sent_at, reply_to, sent_at, state, at_uri, at_cid, error, redacted, edited_at';

export const toThread = (r: ThreadDbRow): ThreadRow => ({
  id: r.id,
  title: r.title,
  participants: r.participants,
  owner: r.owner ?? r.participants[0] ?? null,
  moderators: r.moderators,
  mirror: r.mirror,
  archived: r.archived,
  createdAt: r.created_at,
  lastSeq: r.last_seq,
  remotes: r.remotes,
  atUri: r.at_uri,
  generation: r.generation,
  baseSeq: r.base_seq,
  liveDoc: liveDocName(r.id, r.generation),
});

/** Keys of a batch in a stable order, so concurrent batches lock rows in the same order. */
export const sortedKeys = <K extends MessageKey>(keys: K[]): K[] =>
  [...keys].sort((a, b) => (a.threadId === b.threadId ? (a.messageId < b.messageId ? -1 : 1) : a.threadId < b.threadId ? -1 : 1));


/** `messages` in the order of `keys` (the order the caller gave), one per key found. */
export function orderAs(keys: MessageKey[], messages: StoredMessage[]): StoredMessage[] {
  const byKey = new Map(messages.map((m) => [`${m.threadId}\0${m.id}`, m]));
  return keys.flatMap((k) => byKey.get(`${k.threadId}\0${k.messageId}`) ?? []);
}
