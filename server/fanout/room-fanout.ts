/**
 * One loaded room's side of the fan-out: what it publishes (numbered per room, so a
 * receiver sees a jump when a message was lost) and what it learns from other instances'
 * rooms of the same thread (their relay client ids, their counters).
 */
import { randomBytes } from 'node:crypto';
import type { Fanout, FanoutPosition, FanoutUpdate } from './fanout.ts';

/** How long after its last update a room announces its position (at most once per period). */
export const POSITION_DELAY_MS = 1000;

export class RoomFanout {
  /** This room's origin: the instance and a nonce, so a reloaded room restarts its counter. */
  readonly origin: string;
  private n = 0;
  private positionTimer: NodeJS.Timeout | null = null;
  /** Last counter seen per origin. */
  private readonly seen = new Map<string, number>();
  /** Yjs client ids other instances' rooms write relay structs with. */
  readonly relayClients = new Set<number>();

  constructor(
    private readonly fanout: Fanout,
    private readonly threadId: string,
  ) {
    this.origin = `${fanout.instanceId}/${randomBytes(6).toString('hex')}`;
  }

  /** Whether other instances may exist (a transport that reaches nobody needs no catch-up). */
  get distributed(): boolean {
    return this.fanout.status() !== 'off';
  }

  /** Publishes an update this room stored (client, relay or ingested), with its position. */
  publishUpdate(generation: number, relayClient: number, update: Uint8Array): void {
    this.fanout.publish({ kind: 'update', threadId: this.threadId, generation, origin: this.origin, n: ++this.n, relayClient, update });
    // Announce where this room stands once the burst is over: a lost last update shows then.
    this.positionTimer ??= setTimeout(() => {
      this.positionTimer = null;
      this.fanout.publish({ kind: 'position', threadId: this.threadId, generation, origin: this.origin, n: this.n });
    }, POSITION_DELAY_MS);
    this.positionTimer.unref();
  }

  /** Stops announcing (the room unloads or seals). */
  close(): void {
    if (this.positionTimer) clearTimeout(this.positionTimer);
    this.positionTimer = null;
  }

  /** True when `msg` shows updates of its origin this room never received (they were lost). */
  behind(msg: FanoutPosition): boolean {
    const last = this.seen.get(msg.origin) ?? 0;
    this.seen.set(msg.origin, Math.max(last, msg.n));
    return msg.n > last;
  }

  publishAwareness(update: Uint8Array): void {
    this.fanout.publish({ kind: 'awareness', threadId: this.threadId, origin: this.origin, update });
  }

  /**
   * This room may have stored what it never published (a commit that failed after the store
   * kept part of it, e.g. PostgreSQL's rows before its canon row): other instances' rooms of
   * the thread catch up from the store.
   */
  publishGap(): void {
    this.fanout.publish({ kind: 'gap', threadId: this.threadId, origin: this.origin });
  }

  publishSealed(generation: number): void {
    this.fanout.publish({ kind: 'sealed', threadId: this.threadId, origin: this.origin, generation });
  }

  /**
   * Records a received update; true when messages of its origin were missed before it. An
   * origin first seen past 1 counts as a gap too: its earlier messages were stored before
   * they were published, but one published after this room subscribed may have been lost.
   */
  received(msg: FanoutUpdate): boolean {
    this.relayClients.add(msg.relayClient);
    const last = this.seen.get(msg.origin);
    this.seen.set(msg.origin, Math.max(last ?? 0, msg.n));
    return last === undefined ? msg.n > 1 : msg.n !== last + 1;
  }
}
