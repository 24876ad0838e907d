/**
 * A room's side of running on several relay instances (issue 13), as decisions: what a
 * fan-out message asks of the room (apply another instance's stored update, catch up from the
 * store after a missed one, refresh meta and canon, seal), and applying stored updates to a
 * document without ever keeping half-integrated content. The room (thread-room.ts) acts on
 * them on its chain.
 */
import * as Y from 'yjs';
import type { ThreadFanoutMessage } from '../fanout/fanout.ts';
import type { RoomFanout } from '../fanout/room-fanout.ts';
import { REMOTE_ORIGIN } from './origins.ts';

/** The kinds of fan-out message the room's document follows (awareness goes to its presence). */
export type RemoteMessage = Exclude<ThreadFanoutMessage, { kind: 'awareness' }>;

export type RemoteAction =
  /** Apply `update` (stored by another instance); `gap`: messages of its origin were missed before it. */
  | { kind: 'apply'; update: Uint8Array; gap: boolean }
  /** Re-read the stored log and apply what the document lacks. */
  | { kind: 'catch-up' }
  /** Re-read the thread row and canon (changed outside any room). */
  | { kind: 'refresh' }
  /** Another instance rolled this generation. */
  | { kind: 'seal' }
  | { kind: 'ignore' };

/** What `msg` asks of a room holding `generation`, given its fan-out counters. */
export function remoteAction(msg: RemoteMessage, generation: number, fan: RoomFanout): RemoteAction {
  switch (msg.kind) {
    case 'refresh':
      return { kind: 'refresh' };
    case 'gap':
      return { kind: 'catch-up' };
    case 'position':
      return msg.generation === generation && fan.behind(msg) ? { kind: 'catch-up' } : { kind: 'ignore' };
    case 'sealed':
      return msg.generation >= generation ? { kind: 'seal' } : { kind: 'ignore' };
    default:
      if (msg.generation !== generation) return msg.generation > generation ? { kind: 'seal' } : { kind: 'ignore' };
      return { kind: 'apply', update: msg.update, gap: fan.received(msg) };
  }
}

/**
 * Applies updates another instance stored. False when some could not be integrated (missing
 * structs, or bytes that are not an update): nothing half-integrated is kept, and the caller
 * catches up from the store, which has the whole log.
 */
export function applyStored(doc: Y.Doc, updates: Uint8Array[]): boolean {
  try {
    doc.transact(() => {
      for (const u of updates) Y.applyUpdate(doc, u, REMOTE_ORIGIN);
    }, REMOTE_ORIGIN);
  } catch {
    return false;
  }
  const store = doc.store;
  if (!store.pendingStructs && !store.pendingDs) return true;
  store.pendingStructs = null;
  store.pendingDs = null;
  return false;
}
