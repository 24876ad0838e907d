/**
 * Updates a room keeps per connection while the structs they depend on have not arrived
 * (never applied meanwhile: nothing unchecked waits inside the relay's document). Bounded:
 * a connection over the allowance is cut; a reconnecting peer's step 2 resends all anyway.
 */
import type { SyncConnection } from './sync-connection.ts';

const MAX_HELD_UPDATES = 256;
const MAX_HELD_BYTES = 4 * 1_048_576;

export type Admission = 'applied' | 'pending' | 'dropped';

export class HeldUpdates<P extends { conn: SyncConnection; update: Uint8Array }> {
  private readonly held = new Map<SyncConnection, { updates: P[]; bytes: number }>();

  /** Keeps `p`; false when its connection went over the allowance (the caller cuts it). */
  hold(p: P): boolean {
    let h = this.held.get(p.conn);
    if (!h) this.held.set(p.conn, (h = { updates: [], bytes: 0 }));
    h.updates.push(p);
    h.bytes += p.update.byteLength;
    if (h.updates.length <= MAX_HELD_UPDATES && h.bytes <= MAX_HELD_BYTES) return true;
    this.held.delete(p.conn);
    return false;
  }

  /** Number of connections with held updates. */
  get size(): number {
    return this.held.size;
  }

  drop(conn: SyncConnection): void {
    this.held.delete(conn);
  }

  /** Offers every held update to `admit` again, until none more can be applied. */
  retry(admit: (p: P) => Admission): void {
    for (let progress = true; progress && this.held.size; ) {
      progress = false;
      for (const [conn, h] of [...this.held]) {
        const still: P[] = [];
        for (const p of h.updates) {
          const r = admit(p);
          if (r === 'applied') progress = true;
          else if (r === 'pending') still.push(p);
        }
        if (still.length === 0 || conn.isClosed) this.held.delete(conn);
        else h.updates = still;
      }
    }
  }
}
