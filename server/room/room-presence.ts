/**
 * Presence (y-protocols awareness) of one loaded thread: which connection owns which
 * awareness client ids, what a peer may set, and the fan-out of changes. Never persisted,
 * never mirrored.
 */
import * as awarenessProtocol from 'y-protocols/awareness';
import type * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { SyncConnection } from './sync-connection.ts';
import { decodeAwarenessEntries, encodeAwareness, encodeAwarenessEntries } from './sync-protocol.ts';

/** Awareness client ids one connection may hold (a tab has one; a reload may add one). */
const MAX_AWARENESS_IDS = 8;
/** Origin of awareness changes fanned out from another instance. */
const REMOTE = Symbol('skein-remote-presence');

export class RoomPresence {
  readonly awareness: awarenessProtocol.Awareness;

  constructor(
    doc: Y.Doc,
    /** The room's connections (the live set, read on every change). */
    private readonly conns: Set<SyncConnection>,
    /**
     * Charges a change of `bytes` of a connection's own states to its user's awareness
     * budget in this thread (thread-meters.ts: per user, not per connection); false: over it.
     */
    private readonly charge: (conn: SyncConnection, bytes: number) => boolean,
    /** Publishes a change of this instance's peers to the other instances (fan-out). */
    private readonly publish?: (update: Uint8Array) => void,
  ) {
    this.awareness = new awarenessProtocol.Awareness(doc);
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.onUpdate);
  }

  /**
   * Applies a peer's awareness update. A peer may only set states it owns or no other
   * connection owns (at most MAX_AWARENESS_IDS). Entries for others' states are dropped
   * silently: the stock y-websocket client echoes every state it receives.
   */
  receive(conn: SyncConnection, update: Uint8Array): void {
    let entries;
    try {
      entries = decodeAwarenessEntries(update);
    } catch {
      return conn.close(CloseCode.MALFORMED, 'malformed awareness update');
    }
    let owned = conn.awarenessIds.size;
    const allowed = entries.filter((e) => {
      if (conn.awarenessIds.has(e.clientId)) return true;
      for (const other of this.conns) if (other !== conn && other.awarenessIds.has(e.clientId)) return false;
      // An unowned id with an old clock is an echo the awareness ignores anyway.
      const current = this.awareness.meta.get(e.clientId);
      if (current && current.clock >= e.clock) return false;
      if (owned >= MAX_AWARENESS_IDS) return false;
      owned++;
      return true;
    });
    if (allowed.length === 0) return;
    // Only changes of the peer's own states count against its user's rates (echoes are free):
    // every change is relayed to every member, so the user's tabs share one budget.
    const own = encodeAwarenessEntries(allowed);
    if (!this.charge(conn, own.byteLength)) return conn.close(CloseCode.RATE_LIMITED, 'too many awareness updates');
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, own, conn);
    } catch {
      conn.close(CloseCode.MALFORMED, 'malformed awareness update');
    }
  }

  /**
   * Applies presence of another instance's peers (fan-out). Those states are owned by no
   * local connection; they expire by the awareness timeout if that instance goes away.
   */
  applyRemote(update: Uint8Array): void {
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, REMOTE);
    } catch {
      // A malformed fan-out message is dropped: the next one carries the full state again.
    }
  }

  /** Sends every current state to a peer that just joined. */
  sendStates(conn: SyncConnection): void {
    const ids = [...this.awareness.getStates().keys()];
    if (ids.length) conn.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)));
  }

  /** Drops the states a leaving connection owned (the others learn it is gone). */
  leave(conn: SyncConnection): void {
    if (conn.awarenessIds.size) awarenessProtocol.removeAwarenessStates(this.awareness, [...conn.awarenessIds], conn);
  }

  destroy(): void {
    this.awareness.destroy();
  }

  private onUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin instanceof SyncConnection) {
      for (const id of added.concat(updated)) origin.awarenessIds.add(id);
      for (const id of removed) origin.awarenessIds.delete(id);
    }
    const changed = added.concat(updated, removed);
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed);
    // Only this instance's peers' changes travel: the others have their own (and timeouts).
    if (origin instanceof SyncConnection) this.publish?.(update);
    const frame = encodeAwareness(update);
    // Not back to the sender: it knows its own state, and the echo doubles presence traffic.
    for (const c of this.conns) if (c !== origin) c.send(frame);
  };
}
