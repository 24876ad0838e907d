/**
 * Bounded local bookkeeping of sent messages: which of this device's messages still
 * await their canonical state (for telemetry timings), and diagnostics of failed
 * syncs, which expire after a TTL. Holds ids, thread ids, times and codes: no text.
 */
import type { LocalStore } from './local-store.ts';

export interface OutboxEntry {
  threadId: string;
  createdAt: number;
}

export interface Diagnostic {
  threadId: string;
  messageId: string;
  code: string;
  at: number;
}

export interface SendQueueOptions {
  /** Most entries kept; the oldest are dropped beyond it. */
  maxEntries: number;
  /** Diagnostics and stale outbox entries older than this are deleted. */
  ttlMs: number;
}

export class SendQueue {
  private readonly outbox = new Map<string, OutboxEntry>();

  constructor(
    private readonly store: LocalStore,
    private readonly opts: SendQueueOptions,
  ) {}

  /** Loads the outbox and deletes expired entries and diagnostics. */
  async load(now = Date.now()): Promise<void> {
    for (const [id, e] of await this.store.entries<OutboxEntry>('outbox')) {
      if (now - e.createdAt > this.opts.ttlMs) void this.store.del('outbox', id);
      else this.outbox.set(id, e);
    }
    for (const [id, d] of await this.store.entries<Diagnostic>('diagnostics')) {
      if (now - d.at > this.opts.ttlMs) void this.store.del('diagnostics', id);
    }
  }

  get(messageId: string): OutboxEntry | undefined {
    return this.outbox.get(messageId);
  }

  get size(): number {
    return this.outbox.size;
  }

  add(messageId: string, entry: OutboxEntry): void {
    this.outbox.set(messageId, entry);
    void this.store.put('outbox', messageId, entry).catch(() => {});
    // Map iteration order is insertion order: drop the oldest beyond the bound.
    while (this.outbox.size > this.opts.maxEntries) {
      const oldest = this.outbox.keys().next().value!;
      this.remove(oldest);
    }
  }

  remove(messageId: string): void {
    if (!this.outbox.delete(messageId)) return;
    void this.store.del('outbox', messageId).catch(() => {});
  }

  /** Forgets everything about one thread's messages (the user was removed from it). */
  async dropThread(threadId: string): Promise<void> {
    for (const [id, e] of [...this.outbox]) if (e.threadId === threadId) this.remove(id);
    for (const [id, d] of await this.store.entries<Diagnostic>('diagnostics')) {
      if (d.threadId === threadId) await this.store.del('diagnostics', id).catch(() => {});
    }
  }

  recordFailure(d: Diagnostic): void {
    void this.store.put('diagnostics', d.messageId, d).catch(() => {});
  }

  async diagnostics(now = Date.now()): Promise<Diagnostic[]> {
    const all = await this.store.entries<Diagnostic>('diagnostics');
    return all.map(([, d]) => d).filter((d) => now - d.at <= this.opts.ttlMs);
  }
}
