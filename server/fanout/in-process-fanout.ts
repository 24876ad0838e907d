/**
 * Fan-out inside one process. A relay running alone has nobody to tell (its own bus, so
 * `publish` is a no-op in effect); several InProcessFanout instances sharing one bus behave
 * like relay instances on one Redis, which is how the conformance suite and unit tests use it.
 */
import { randomUUID } from 'node:crypto';
import type { Fanout, FanoutStatus, FanoutUserEvent, ThreadFanoutMessage, ThreadHandler } from './fanout.ts';

/** The shared medium of InProcessFanout instances (one per process by default). */
export class InProcessBus {
  readonly members = new Set<InProcessFanout>();
}

export class InProcessFanout implements Fanout {
  readonly instanceId = randomUUID();
  private readonly threads = new Map<string, ThreadHandler>();
  private readonly userHandlers: Array<(e: FanoutUserEvent) => void> = [];
  private closed = false;

  constructor(private readonly bus: InProcessBus = new InProcessBus()) {
    bus.members.add(this);
  }

  publish(msg: ThreadFanoutMessage): void {
    if (this.closed) return;
    // Delivered on a later turn, like a network transport: publishers never re-enter handlers.
    for (const m of this.bus.members) {
      if (m === this) continue;
      const copy = 'update' in msg ? { ...msg, update: msg.update.slice() } : { ...msg };
      queueMicrotask(() => m.threads.get(msg.threadId)?.(copy));
    }
  }

  publishUserEvent(e: FanoutUserEvent): void {
    if (this.closed) return;
    for (const m of this.bus.members) {
      if (m === this) continue;
      queueMicrotask(() => m.userHandlers.forEach((h) => h(structuredClone(e))));
    }
  }

  async subscribe(threadId: string, handler: ThreadHandler): Promise<void> {
    this.threads.set(threadId, handler);
  }

  async unsubscribe(threadId: string): Promise<void> {
    this.threads.delete(threadId);
  }

  onUserEvent(handler: (e: FanoutUserEvent) => void): void {
    this.userHandlers.push(handler);
  }

  onResync(_handler: () => void): void {
    // Nothing is ever lost in process.
  }

  status(): FanoutStatus {
    return this.bus.members.size > 1 ? 'up' : 'off';
  }

  async ping(): Promise<FanoutStatus> {
    return this.status();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.threads.clear();
    this.bus.members.delete(this);
  }
}
