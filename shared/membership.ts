/**
 * Membership changes as system events (issue 30, docs/design/membership.md): relay-written
 * records in the thread document's `events` root, shown among the messages in order.
 */
import type * as Y from 'yjs';

/** Root of the thread document holding system events (written by the relay only). */
export const EVENTS_ROOT = 'events';

export type SystemEventType = 'member_added' | 'member_removed' | 'moderators_set';

/** One membership change, as the relay appends it to `events`. */
export interface SystemEvent {
  id: string;
  type: SystemEventType;
  /** Who made the change. */
  actor: string;
  /** The member added or removed. */
  target?: string;
  /** `moderators_set`: the new list. */
  moderators?: string[];
  /** Relay clock, ms. */
  at: number;
  /** The thread's `lastSeq` when it happened: shown after that message, before the next. */
  afterSeq: number;
}

/** The `events` root of a thread document. */
export function systemEventsOf(doc: Y.Doc): Y.Array<SystemEvent> {
  return doc.getArray<SystemEvent>(EVENTS_ROOT);
}

/**
 * System events in the order every replica shows them: by `afterSeq`, then `at`, then `id`
 * (two instances appending at once merge in an order Yjs picks; this key does not depend on it).
 */
export function orderedSystemEvents(events: Iterable<SystemEvent>): SystemEvent[] {
  return [...events].sort((a, b) => a.afterSeq - b.afterSeq || a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
