/**
 * JSON shapes of the relay's HTTP API (`/v1`), shared by the relay that sends them and
 * the SDK that reads them.
 */
import type { CanonInfo, MessageRecord } from './schema.ts';

/** A thread as `GET /v1/threads/:id` and `POST /v1/threads` return it. */
export interface Thread {
  id: string;
  title: string;
  participants: string[];
  /**
   * The thread's owner (shared/roles.ts): its creator, or on a thread from before roles its
   * first participant. Null only for a thread without participants.
   */
  owner: string | null;
  /** Participants the owner made moderators (never lists the owner). */
  moderators: string[];
  mirror: boolean;
  archived: boolean;
  createdAt: number;
  /** Seq of the newest canonical message; 0 when there is none. */
  lastSeq: number;
  /** Remote members: DIDs whose AT records this thread ingests (see `remoteAuthorId`). */
  remotes: string[];
  /**
   * The thread's global identity: the at:// URI of its `dev.skein.chat.thread` record (on the
   * relay that created it; a following relay holds the URI it follows). Null for a thread
   * that is not shared through AT.
   */
  atUri: string | null;
  /**
   * The thread's current generation (0 until its history first rolls): messages with
   * `seq <= baseSeq` are sealed history (history API), newer ones live in `liveDoc`.
   */
  generation: number;
  /** Seq of the newest sealed message; 0 before the first roll. */
  baseSeq: number;
  /** The y-websocket document name of the live generation (`/v1/sync/<liveDoc>`). */
  liveDoc: string;
}

/** A canonical message of the history API: the record plus its canonical info. */
export interface CanonicalMessage extends MessageRecord, CanonInfo {
  /** Set once the message was deleted: `text` is then empty (design/message-lifecycle.md). */
  redacted?: true;
  /** When the current text was written, once edited (the text is then the newest revision). */
  editedAt?: number;
}

/** One entry of `GET /v1/threads`. */
export interface ThreadSummary extends Thread {
  lastMessage: Pick<CanonicalMessage, 'id' | 'authorId' | 'text' | 'seq' | 'sentAt'> | null;
}

/** A push event on `/v1/events`: which of the user's threads changed and how. */
export interface ThreadListEvent {
  type: 'thread';
  threadId: string;
  /** `removed`: sent to a removed member only (docs/design/membership.md); the SDK drops the thread's local data. */
  change: 'created' | 'archived' | 'unarchived' | 'members' | 'removed';
}
