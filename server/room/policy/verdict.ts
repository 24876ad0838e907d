/**
 * The document policy's vocabulary: what it is told about the thread and the peer
 * (PolicyContext), and what it answers (Verdict, Refusal). Checks throw PolicyError inside
 * the checker; checkUpdate turns it back into the refusal it carries.
 */
import type * as Y from 'yjs';
import { CloseCode } from '../../../shared/errors.ts';
import type { MessageRecord, ThreadRoots } from '../../../shared/schema.ts';
import type { StreamLimits } from '../../../shared/stream.ts';

/** What the policy needs to know about the thread and the peer. */
export interface PolicyContext {
  doc: Y.Doc;
  roots: ThreadRoots;
  /** The authenticated user of the connection the update came from. */
  userId: string;
  maxTextLength: number;
  /** Limits of streamed replies (the `streams` root); default DEFAULT_STREAM_LIMITS. */
  streamLimits?: StreamLimits;
  /** True when a message with this id already exists in the thread. */
  isKnownMessageId(id: string): boolean;
  /**
   * The author of a known message, when the room can tell: a peer re-appending its own
   * message by id (the SDK after a roll, when the relay already took it from the sealed
   * copy) is not refused; its copy is a duplicate the relay tombstones.
   */
  authorOfKnownMessage?(id: string): string | undefined;
  /**
   * How many of the relay's structs a delete set may make the checker visit (default:
   * unbounded). Live updates delete a few receipts; only a backlog (sync step 2) carries
   * a whole delete set, so the room bounds the others.
   */
  deletionWalkBudget?: number;
  /**
   * Yjs client ids of other relay instances' rooms of this thread (fan-out, issue #13): their
   * structs are the relay's own, never a peer's to write; new ones wait for the store catch-up.
   */
  isRelayClient?(client: number): boolean;
  /** True when other relay instances may write this thread (fan-out is on). */
  otherRelays?: boolean;
}

/** A new message record found in an accepted update, with the Yjs id of its element. */
export interface AcceptedMessage {
  record: MessageRecord;
  client: number;
  clock: number;
}

export type Verdict =
  | {
      ok: true;
      /** New message records, in update order. */
      messages: AcceptedMessage[];
      /** The peer's own messages appended again under a known id: to be tombstoned. */
      duplicates: AcceptedMessage[];
      /** Receipt keys the update touches → highest new `readAt` in it (null: only deleted). */
      receipts: Map<string, number | null>;
      /** Client ids the update writes new structs with (their owner is the connected user). */
      clients: number[];
      /**
       * Message ids the relay must purge after the commit: new deletion markers, and edits or
       * reactions naming an already deleted message (accepted, then removed by the relay).
       */
      redact: string[];
      /** Message ids this update adds a revision to. */
      edited: string[];
      /** Deletion markers accepted only to be removed again by the relay (lifecycle.ts `revert`). */
      revert: string[];
    }
  | { ok: false; pending?: undefined; code: number; reason: string }
  /** Depends on structs the relay does not have yet; nothing was judged unsafe so far. */
  | { ok: false; pending: true; reason: string };

export type Refusal = { ok: false; pending?: undefined; code: number; reason: string };

export const refuse = (reason: string, code: number = CloseCode.POLICY_VIOLATION): Refusal => ({ ok: false, code, reason });

/** Carries a refusal out of a check, however deep; never escapes checkUpdate. */
export class PolicyError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.reason);
  }
}
