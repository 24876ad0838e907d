/**
 * A room's side of running on several relay instances (issue 13): updates another instance
 * checked and stored arrive through the fan-out and are applied as they are; a missed one
 * (counter jump, position notice, structs this document cannot integrate) triggers a
 * catch-up from the store; canon another instance committed but never wrote (it died in
 * between) is written here from the store (canon-watch.ts).
 */
import * as Y from 'yjs';
import { CanonWatch, missingCanon, storedMessages } from './canon-watch.ts';
import type { ThreadFanoutMessage } from '../fanout/fanout.ts';
import { REMOTE_ORIGIN, type RoomHost } from './room-host.ts';

/** The kinds of fan-out message this part handles (awareness goes to the room's presence). */
export type RemoteMessage = Exclude<ThreadFanoutMessage, { kind: 'awareness' }>;

export class RoomRemote {
  /** A catch-up from the store is queued (at most one waits behind the running one). */
  private catchUpQueued = false;
  private readonly canonWatch = new CanonWatch(() => this.repairRemoteCanon());

  constructor(
    private readonly room: RoomHost,
    /** Held updates waiting in the room's admission (a catch-up may have brought their structs). */
    private readonly heldCount: () => number,
  ) {}

  private get id(): string {
    return this.room.thread().id;
  }

  /**
   * A message from another instance's room of this thread. A missed message (counter jump)
   * or an update this document cannot integrate triggers a catch-up from the store.
   */
  receive(msg: RemoteMessage): void {
    const room = this.room;
    const fan = room.fan;
    if (room.sealed() || !fan) return;
    const generation = room.thread().generation;
    if (msg.kind === 'refresh') return this.refreshFromStore();
    if (msg.kind === 'gap') return this.catchUp();
    if (msg.kind === 'position') {
      if (msg.generation === generation && fan.behind(msg)) this.catchUp();
      return;
    }
    if (msg.kind === 'sealed') {
      if (msg.generation >= generation) void room.sealFromElsewhere();
      return;
    }
    if (msg.generation !== generation) {
      if (msg.generation > generation) void room.sealFromElsewhere();
      return;
    }
    const gap = fan.received(msg);
    this.canonWatch.poke();
    if (!this.apply([msg.update]) || gap) this.catchUp();
    else if (this.heldCount() > 0) room.requestRetry();
  }

  /** Applies stored updates; false when some could not be integrated (missing structs). */
  private apply(updates: Uint8Array[]): boolean {
    const { doc, log } = this.room;
    try {
      doc.transact(() => {
        for (const u of updates) Y.applyUpdate(doc, u, REMOTE_ORIGIN);
      }, REMOTE_ORIGIN);
    } catch (err) {
      log.error({ event: 'remote_apply_failed', threadId: this.id, err: String(err) }, 'applying a fanned-out update failed');
      return false;
    }
    const store = doc.store;
    if (!store.pendingStructs && !store.pendingDs) return true;
    // Never keep half-integrated content: the catch-up brings the whole log.
    store.pendingStructs = null;
    store.pendingDs = null;
    return false;
  }

  /**
   * Re-reads the thread's stored log and applies what this document lacks (the diff goes
   * to the peers). Runs in the room's chain; calls while one waits are merged into it.
   */
  catchUp(): void {
    const room = this.room;
    if (this.catchUpQueued || room.sealed()) return;
    this.catchUpQueued = true;
    room.chain.add(async () => {
      this.catchUpQueued = false;
      if (room.sealed()) return;
      try {
        // Log first, then the row: a roll replaces both in one transaction, so a log read
        // before the roll is seen with the old generation, and one after with the new.
        const { updates } = await room.store.loadUpdates(this.id);
        const row = await room.store.getThread(this.id);
        if (row && row.generation !== room.thread().generation) return void (await room.sealFromElsewhere(row));
        this.apply(updates);
        this.canonWatch.poke();
        room.log.debug({ event: 'caught_up', threadId: this.id, rows: updates.length }, 'caught up from the store');
      } catch (err) {
        room.log.warn({ event: 'catch_up_failed', threadId: this.id, err: String(err) }, 'catching up from the store failed');
      }
      if (this.heldCount() > 0) room.requestRetry();
    });
  }

  /** Writes canon, from the store, for messages applied from other instances that still lack it. */
  private repairRemoteCanon(): void {
    const room = this.room;
    if (room.sealed()) return;
    const missing = missingCanon(room.roots, room.uncanonIds);
    if (missing.length === 0) return;
    room.chain.add(async () => {
      if (room.sealed()) return;
      try {
        const fixes = (await storedMessages(room.store, this.id, missing)).filter((m) => !room.roots.canon.has(m.id));
        if (fixes.length === 0) return;
        room.log.info({ event: 'canon_repaired', threadId: this.id, messages: fixes.length }, 'wrote canon another instance did not');
        room.writeCanon(fixes);
      } catch (err) {
        room.log.warn({ event: 'canon_repair_failed', threadId: this.id, err: String(err) }, 'repairing canon failed');
      }
    });
  }

  /** Re-reads meta and canon from the store (changed by another instance outside its rooms). */
  private refreshFromStore(): void {
    const room = this.room;
    room.chain.add(async () => {
      if (room.sealed()) return;
      try {
        const row = await room.store.getThread(this.id);
        if (row) room.syncMeta(row);
        await room.repairCanon();
      } catch (err) {
        room.log.warn({ event: 'refresh_failed', threadId: this.id, err: String(err) }, 'refreshing from the store failed');
      }
    });
  }

  destroy(): void {
    this.canonWatch.destroy();
  }
}
