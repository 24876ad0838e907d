/**
 * A room's stored update log: how many rows and bytes it holds, and its compaction into one
 * snapshot row once it is due.
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

/** When a room's log is due for compaction. */
export interface CompactionPolicy {
  /** Rows after which the log is compacted (each room draws 75–100 % of it). */
  afterRows: number;
  /**
   * And only once the rows appended since the last snapshot hold this share of its bytes, in
   * percent (0: rows alone decide). A compaction encodes the whole document, so a fixed row
   * count makes its cost per message grow with the thread; a share of the snapshot keeps it
   * constant (each snapshot's bytes are paid for by as many bytes of new rows times the share).
   */
  growthPercent?: number;
}

export class RoomLog {
  /** Rows in the stored log (as far as this room wrote or loaded them). */
  rows = 0;
  /** Bytes of the rows appended since the last snapshot. */
  private grown = 0;
  /** Bytes of the last snapshot (the log's first row after a load). */
  private base = 0;
  private threshold: number;

  constructor(
    private readonly doc: Y.Doc,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly policy: CompactionPolicy,
  ) {
    this.threshold = compactionThreshold(policy.afterRows);
  }

  /** The log as loaded: its first row is the last snapshot where one was taken. */
  loaded(rows: readonly Uint8Array[]): void {
    this.rows += rows.length;
    this.base = rows[0]?.length ?? 0;
    for (let i = 1; i < rows.length; i++) this.grown += rows[i]!.length;
  }

  /** One row of `bytes` was appended. */
  added(bytes: number): void {
    this.rows += 1;
    this.grown += bytes;
  }

  /** Whether the log grew past this room's threshold (rows, then bytes against the last snapshot). */
  get due(): boolean {
    return this.rows > this.threshold && this.grown * 100 >= this.base * (this.policy.growthPercent ?? 0);
  }

  /** The store replaced the log by one snapshot row of `bytes` (a redaction did). */
  compacted(bytes: number): void {
    this.rows = 1;
    this.base = bytes;
    this.grown = 0;
    this.threshold = compactionThreshold(this.policy.afterRows);
  }

  /**
   * Replaces the stored log with one snapshot of the current document. Throws what the store
   * throws (GenerationSealedError: the thread rolled elsewhere); the stored rows are then as they were.
   */
  async compact(thread: ThreadRow): Promise<void> {
    const before = this.rows;
    const snapshot = coveredSnapshot(this.doc);
    await this.store.compact(thread.id, snapshot.update, thread.generation, snapshot.holds, snapshot.deletions);
    this.compacted(snapshot.update.length);
    this.log.debug({ event: 'log_compacted', threadId: thread.id, rows: before, bytes: snapshot.update.length }, 'update log compacted');
  }
}
