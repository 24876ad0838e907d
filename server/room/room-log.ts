/**
 * A room's stored update log: how many rows it holds, and its compaction into one
 * snapshot row once it passes the room's threshold.
 */
import type * as Y from 'yjs';
import type { Logger } from '../ops/logger.ts';
import { coveredSnapshot } from '../store/snapshot-coverage.ts';
import type { Store, ThreadRow } from '../store/store.ts';


/**
 * `configured` scaled by a random 0.75..1. Rooms loaded together (a restart, a burst of new
 * threads) would otherwise all compact in the same turn and stall every thread's deliveries
 * at once; never later than configured.
 */
export function compactionThreshold(configured: number): number {
  return Math.max(1, Math.floor(configured * (0.75 + Math.random() * 0.25)));
}

export class RoomLog {
  /** Rows in the stored log (as far as this room wrote or loaded them). */
  rows = 0;
  private threshold: number;

  constructor(
    private readonly doc: Y.Doc,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly configured: number,
  ) {
    this.threshold = compactionThreshold(configured);
  }

  added(n: number): void {
    this.rows += n;
  }

  /** Whether the log grew past this room's threshold. */
  get due(): boolean {
    return this.rows > this.threshold;
  }

  /** The store replaced the log by one snapshot row (a redaction did). */
  compacted(): void {
    this.rows = 1;
    this.threshold = compactionThreshold(this.configured);
  }

  /**
   * Replaces the stored log with one snapshot of the current document. Throws what the store
   * throws (GenerationSealedError: the thread rolled elsewhere); the stored rows are then as they were.
   */
  async compact(thread: ThreadRow): Promise<void> {
    const before = this.rows;
    const snapshot = coveredSnapshot(this.doc);
    await this.store.compact(thread.id, snapshot.update, thread.generation, snapshot.holds, snapshot.deletions);
    this.rows = 1;
    this.threshold = compactionThreshold(this.configured);
    this.log.debug({ event: 'log_compacted', threadId: thread.id, rows: before }, 'update log compacted');
  }
}
