/**
 * The relay's storage interface. Implementations (SQLite, PostgreSQL) must pass the
 * same conformance suite (tests/integration/store-conformance.test.ts).
 *
 * Sequencing happens inside `commitMessages`: the update log rows, the message rows
 * and the thread's sequence counter change in one transaction, so nothing that has a
 * seq can exist without the update that carried it.
 */
import type { MessageRecord, MessageState } from '../../shared/schema.ts';

export interface ThreadRow {
  id: string;
  title: string;
  participants: string[];
  mirror: boolean;
  archived: boolean;
  createdAt: number;
  lastSeq: number;
}

export interface StoredMessage extends MessageRecord {
  threadId: string;
  seq: number;
  sentAt: number;
  state: MessageState;
  atUri?: string;
  atCid?: string;
  error?: string;
}

export interface ThreadSummary extends ThreadRow {
  lastMessage: Pick<StoredMessage, 'id' | 'authorId' | 'text' | 'seq' | 'sentAt'> | null;
}

export interface NewThread {
  id: string;
  title: string;
  participants: string[];
  mirror: boolean;
  createdAt: number;
}

/** A message found in a committed update, with the state the relay decided for it. */
export interface MessageCandidate {
  record: MessageRecord;
  /** `rejected` for business-rule refusals (e.g. archived thread), else `sent`. */
  state: 'sent' | 'rejected';
  error?: string;
}

export interface UpdateLog {
  updates: Uint8Array[];
}

export interface Store {
  createThread(t: NewThread): Promise<ThreadRow>;
  getThread(id: string): Promise<ThreadRow | null>;
  listThreadsForUser(userId: string): Promise<ThreadSummary[]>;
  /** Marks a thread archived; returns the updated row, or null when unknown. */
  archiveThread(id: string): Promise<ThreadRow | null>;

  /** All stored updates of a thread, oldest first. */
  loadUpdates(threadId: string): Promise<UpdateLog>;
  /** Appends one update (relay-authored changes: canon, meta). */
  appendUpdate(threadId: string, update: Uint8Array): Promise<void>;
  /**
   * Atomically: appends `updates`, assigns the next seqs and a non-decreasing `sentAt`
   * (never less than `now` or the thread's previous one) to each candidate whose id is
   * new in the thread, and persists those message rows. Returns the stored messages,
   * in seq order. Candidates whose id already exists are skipped.
   */
  commitMessages(threadId: string, updates: Uint8Array[], candidates: MessageCandidate[], now: number): Promise<StoredMessage[]>;
  /** Replaces the whole update log of a thread by one snapshot, atomically. */
  compact(threadId: string, snapshot: Uint8Array): Promise<void>;
  /** Number of rows in the update log of a thread. */
  countUpdates(threadId: string): Promise<number>;

  /** Canonical messages with `seq > afterSeq`, in seq order, at most `limit`. */
  listMessages(threadId: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;

  close(): Promise<void>;
}
