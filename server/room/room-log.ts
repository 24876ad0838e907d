/**
 * A room's stored update log: how many rows it holds, and its compaction into one
 * snapshot row once it passes the room's threshold.
 */
import type * as Y from 'yjs';
import type { Logger } from '../ops/logger.ts';
import { coveredSnapshot } from '../store/snapshot-coverage.ts';
import { GenerationSealedError, type Store, type ThreadRow } from '../store/store.ts';

/** What compaction needs of its room. */
export interface LogHost {
  readonly doc: Y.Doc;
  readonly store: Store;
  readonly log: Logger;
  thread(): ThreadRow;
  /** The store refused the write: the thread rolled past this generation elsewhere. */
  sealedOnWrite(err: GenerationSealedError): Promise<void>;
}

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

  constructor(private readonly h: LogHost, private readonly configured: number) {
    this.threshold = compactionThreshold(configured);
  }

  added(n: number): void {
    this.rows += n;
  }

  /** Whether the log grew past this room's threshold. */
  get due(): boolean {
    return this.rows > this.threshold;
  }

  /** Replaces the stored log with one snapshot of the current document. */
  async compact(): Promise<void> {
    const before = this.rows;
    const thread = this.h.thread();
    try {
      const snapshot = coveredSnapshot(this.h.doc);
      await this.h.store.compact(thread.id, snapshot.update, thread.generation, snapshot.holds);
    } catch (err) {
      if (err instanceof GenerationSealedError) return void (await this.h.sealedOnWrite(err));
      throw err;
    }
    this.rows = 1;
    this.threshold = compactionThreshold(this.configured);
    this.h.log.debug({ event: 'log_compacted', threadId: thread.id, rows: before }, 'update log compacted');
  }
}
