/**
 * Cutting a large offline backlog down to what the relay will take this time, before the
 * room sees it (issue 28). A stock y-websocket client re-sends its whole backlog (20,000
 * messages: a 2 MB sync step 2) on every reconnect; decoding and checking that on the event
 * loop stalled the relay for 1.4–2 s each time, however little of it the budget then let in.
 * This runs in a worker (backlog-offload.ts) and hands the room a part of at most `maxBytes`
 * holding at most `keep` messages, so the event loop only ever decodes that part.
 *
 * It knows nothing of the document but its state vector: a "message" here is any array
 * element shaped like a message record (a plain object with string `id` and `authorId`).
 * Everything the policy accepts as a message has that shape, so the part holds no more
 * messages than counted; what else is counted only makes the part smaller. Either way the
 * part holds at most `maxBytes`, and the room checks it against the policy and the budget as
 * it checks any backlog.
 */
import * as Y from 'yjs';
import { backlogCuts, prefixUpdate } from './backlog-cut.ts';

/** What the room is given of a large backlog. */
export interface Precut {
  /** The part to admit: the whole backlog (less what the relay had) when it fits. */
  update: Uint8Array;
  /** Message-like elements of the backlog (after the diff). */
  messages: number;
  /** Message-like elements left out of the part (0: the part is the whole backlog). */
  deferred: number;
  /** The backlog cannot be taken at all: undecodable, or too large even without messages. */
  refusal?: 'malformed' | 'too_large';
}

type Element = { client: number; clock: number };

const isMessageLike = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string' && typeof (v as { authorId?: unknown }).authorId === 'string';

/** Clock of every message-like array element of `update`. */
function messageElements(update: Uint8Array): Element[] {
  const out: Element[] = [];
  for (const s of Y.decodeUpdate(update).structs) {
    if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentAny || s.content instanceof Y.ContentJSON)) continue;
    const arr = s.content.arr;
    for (let j = 0; j < arr.length; j++) if (isMessageLike(arr[j])) out.push({ client: s.id.client, clock: s.id.clock + j });
  }
  return out;
}

/**
 * The part of `backlog` (Yjs v1) the room should admit now: without what `stateVector`
 * (the relay's) already covers, with at most `keep` messages (the first in append order,
 * backlog-cut.ts) and at most `maxBytes`.
 */
export function precutBacklog(backlog: Uint8Array, stateVector: Uint8Array | null, keep: number, maxBytes: number): Precut {
  let update: Uint8Array;
  let elements: Element[];
  try {
    update = stateVector ? Y.diffUpdate(backlog, stateVector) : backlog;
    elements = messageElements(update);
  } catch {
    return { update: new Uint8Array(), messages: 0, deferred: 0, refusal: 'malformed' };
  }
  const total = elements.length;
  if (total <= keep && update.byteLength <= maxBytes) return { update, messages: total, deferred: 0 };
  let k = Math.max(0, Math.min(Math.floor(keep), total));
  for (;;) {
    let part: Uint8Array;
    try {
      part = prefixUpdate(update, backlogCuts(update, elements, k));
    } catch {
      return { update: new Uint8Array(), messages: total, deferred: total, refusal: 'malformed' };
    }
    if (part.byteLength <= maxBytes) return { update: part, messages: total, deferred: Math.max(1, total - k) };
    if (k === 0) return { update: new Uint8Array(), messages: total, deferred: total, refusal: 'too_large' };
    // Shrink in proportion (messages are about the same size), at least by one.
    k = Math.min(k - 1, Math.floor(((k * maxBytes) / part.byteLength) * 0.9));
  }
}
