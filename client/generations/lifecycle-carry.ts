/**
 * Carrying this user's edits, deletion markers and reactions from a sealed generation into
 * the live one (docs/design/message-lifecycle.md, "Offline across a roll"). The relay carries
 * into the new generation what it held at the roll; what this device wrote after its last
 * contact with the relay is only in the sealed copy here, and would be lost with it. The
 * client cannot tell which of its writes reached the relay (Yjs has no acknowledgement), so
 * it carries each of its own entries the live copy lacks, with the same key and value:
 *
 * - a revision (unique key) written again is the same revision: the relay accepts an
 *   identical value as a no-op (server/room/policy/lifecycle.ts), so it shows once;
 * - a deletion marker is final and keyed by the message: writing it again changes nothing;
 * - a reaction is last-writer-wins per key on its `at`: the newer of the two stays.
 *
 * A reaction removed in the sealed copy leaves nothing to carry (a removal is an absent
 * key); `client/view/reaction-removals.ts` removes it again once the live copy synced.
 */
import type * as Y from 'yjs';
import { parseEditKey, parseReactionKey } from '../../shared/message-lifecycle.ts';
import type { ThreadRoots } from '../../shared/schema.ts';

/** How many entries a carry wrote, per root. */
export interface Carried {
  edits: number;
  redactions: number;
  reactions: number;
}

/** The id (writer and clock) of the current value of `key` in `map`, if any. */
function idOf<T>(map: Y.Map<T>, key: string): Y.ID | undefined {
  return map._map.get(key)?.id;
}

/**
 * Writes into `next` (call inside its transaction) `userId`'s entries of `old` that `next`
 * lacks. `authorOf` names a message's author when the view knows it (live records, history);
 * otherwise a revision counts as this user's unless the relay recorded its writer as another
 * user's client (`owners`). `seen(client, clock)`, when the relay told its state vector of
 * `old`'s generation at the roll, says which entries it had: those it carried itself (or saw
 * removed since), so they are left alone — a reaction removed on another device stays removed.
 */
export function carryLifecycle(old: ThreadRoots, next: ThreadRoots, userId: string, authorOf: (messageId: string) => string | undefined, seen?: (client: number, clock: number) => boolean): Carried {
  const carried: Carried = { edits: 0, redactions: 0, reactions: 0 };
  const known = <T>(map: Y.Map<T>, key: string): boolean => {
    const id = seen && idOf(map, key);
    return !!id && seen!(id.client, id.clock);
  };
  // Edits and reactions of a deleted message are removed by the relay anyway.
  const gone = (id: string) => next.redactions.has(id) || old.redactions.has(id);
  for (const [key, e] of old.edits.entries()) {
    const k = parseEditKey(key);
    if (!k || !e || typeof e.text !== 'string' || next.edits.has(key) || gone(k.messageId) || known(old.edits, key)) continue;
    const author = authorOf(k.messageId);
    if (author !== undefined ? author !== userId : !ownWrite(old, idOf(old.edits, key)?.client, userId)) continue;
    next.edits.set(key, { text: e.text, editedAt: e.editedAt });
    carried.edits++;
  }
  for (const [id, r] of old.redactions.entries()) {
    if (r?.by !== userId || next.redactions.has(id) || known(old.redactions, id)) continue;
    next.redactions.set(id, { by: r.by, at: r.at });
    carried.redactions++;
  }
  for (const [key, r] of old.reactions.entries()) {
    const k = parseReactionKey(key);
    if (!k || k.userId !== userId || typeof r?.at !== 'number' || gone(k.messageId) || known(old.reactions, key)) continue;
    const cur = next.reactions.get(key);
    if (cur && cur.at >= r.at) continue;
    next.reactions.set(key, { at: r.at });
    carried.reactions++;
  }
  return carried;
}

/** A write by `client` may be this user's: its client id is theirs, or the relay never took a write from it. */
function ownWrite(old: ThreadRoots, client: number | undefined, userId: string): boolean {
  if (client === undefined) return false;
  const owner = old.owners.get(String(client));
  return owner === undefined || owner === userId;
}
