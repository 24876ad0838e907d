/**
 * The relay's own updates of a thread (canon, meta, tombstones, receipt maxima), stored
 * before any peer sees them: a peer holding relay structs the relay lost in a crash would be
 * refused (it would look like someone writing as the relay). Batched per event-loop turn,
 * so the store can group them into one commit.
 */
import * as Y from 'yjs';
import type { Store } from '../store/store.ts';

export interface RelayUpdatesHooks {
  /** Sends a stored update to every peer. */
  broadcast(update: Uint8Array): void;
  /** Storing failed: the room can no longer be trusted (GenerationSealedError: it is history). */
  failed(err: unknown): void;
  /** One more row in the thread's update log. */
  stored(): void;
}

export class RelayUpdates {
  private queued: Uint8Array[] = [];
  private chain: Promise<void> = Promise.resolve();
  private sealed = false;

  constructor(
    private readonly store: Store,
    private readonly threadId: string,
    /** The generation the room's document is: the store refuses the write once it rolled. */
    private readonly generation: number,
    private readonly hooks: RelayUpdatesHooks,
  ) {}

  /** True while updates wait to be stored. */
  get pending(): boolean {
    return this.queued.length > 0;
  }

  push(update: Uint8Array): void {
    if (this.sealed) return;
    this.queued.push(update);
    if (this.queued.length === 1) setImmediate(() => (this.chain = this.chain.then(() => this.storeQueued())));
  }

  /**
   * Hands over the updates waiting to be stored: the caller stores them with its own commit
   * and sends them (so a later relay update never reaches a peer before an earlier one).
   */
  take(): Uint8Array[] {
    const updates = this.queued;
    this.queued = [];
    return updates;
  }

  /** Resolves once every update pushed so far is stored (or dropped by a failure). */
  async idle(): Promise<void> {
    while (this.queued.length > 0) {
      await new Promise((r) => setImmediate(r));
      await this.chain;
    }
    await this.chain;
  }

  /** Stops storing: the generation is sealed and its log belongs to the next one now. */
  seal(): void {
    this.sealed = true;
    this.queued = [];
  }

  private async storeQueued(): Promise<void> {
    const updates = this.queued;
    this.queued = [];
    if (updates.length === 0 || this.sealed) return;
    const merged = updates.length > 1 ? Y.mergeUpdates(updates) : updates[0]!;
    try {
      await this.store.appendUpdate(this.threadId, merged, this.generation);
      this.hooks.stored();
    } catch (err) {
      this.hooks.failed(err);
      return;
    }
    this.hooks.broadcast(merged);
  }
}
