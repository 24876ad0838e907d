/**
 * The end of a room's generation (docs/data-model.md, "Windowed threads"): rolled here once
 * it holds enough messages, or sealed because another instance rolled it first (the fan-out
 * said so, or the store refused a write of this generation). Either way nothing more is
 * applied or stored, every connection gets 4410 naming the live document, and the registry
 * drops the room.
 */
import { CloseCode } from '../../shared/errors.ts';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { RoomFanout } from '../fanout/room-fanout.ts';
import { nextGeneration } from './generation-roll.ts';
import type { Logger } from '../ops/logger.ts';
import type { GenerationSealedError, Store, ThreadRow } from '../store/store.ts';
import type { SyncConnection } from './sync-connection.ts';

/** What sealing needs of its room. */
export interface SealHost {
  readonly roots: ThreadRoots;
  readonly conns: ReadonlySet<SyncConnection>;
  readonly store: Store;
  readonly log: Logger;
  readonly fan: RoomFanout | null;
  thread(): ThreadRow;
  /** The thread's row after the roll (the next generation's). */
  setThread(row: ThreadRow): void;
  /** Every connection was closed with 4410: drop the room. */
  done(): void;
}

export class RoomSeal {
  /** Set once this generation rolled: the document is history, nothing more is applied or stored. */
  sealed = false;

  constructor(private readonly h: SealHost) {}

  /** The 4410 reason: the live document to go to. */
  get reason(): string {
    return `generation_rolled ${this.h.thread().liveDoc}`;
  }

  /**
   * Rolls (on the room's chain, after the relay's own changes are stored): one store
   * transaction starts the next generation; then every connection gets 4410. A failed roll
   * leaves the generation live (it is tried again after the next commit).
   */
  async roll(): Promise<void> {
    const h = this.h;
    const id = h.thread().id;
    const from = h.thread().generation;
    const { snapshot, receipts } = nextGeneration(h.roots);
    let next: ThreadRow | null;
    try {
      next = await h.store.rollGeneration(id, from, snapshot, receipts);
    } catch (err) {
      h.log.error({ event: 'roll_failed', threadId: id, err: String(err) }, 'rolling the generation failed');
      return;
    }
    const row = next ?? (await h.store.getThread(id).catch(() => null));
    this.mark();
    if (row) h.setThread(row);
    h.log.info({ event: 'generation_rolled', threadId: id, generation: h.thread().generation, baseSeq: h.thread().baseSeq }, 'generation rolled');
    // Other instances' rooms of `from` seal too (and also learn it from the store on catch-up).
    h.fan?.publishSealed(from);
    this.closeAll();
  }

  /** The store refused a write of this generation (another instance rolled it first): seal. */
  onWriteRefused(err: GenerationSealedError): Promise<void> {
    this.h.log.info({ event: 'write_refused_sealed', threadId: this.h.thread().id, generation: err.generation, liveGeneration: err.liveGeneration }, 'write refused: generation sealed');
    return this.fromElsewhere();
  }

  /** Another instance rolled this generation: seal here too. */
  async fromElsewhere(row?: ThreadRow): Promise<void> {
    if (this.sealed) return;
    const h = this.h;
    this.mark();
    const next = row ?? (await h.store.getThread(h.thread().id).catch(() => null));
    if (next && next.generation > h.thread().generation) h.setThread(next);
    h.log.info({ event: 'generation_sealed_elsewhere', threadId: h.thread().id, generation: h.thread().generation }, 'generation rolled by another instance');
    this.closeAll();
  }

  private mark(): void {
    this.sealed = true;
  }

  private closeAll(): void {
    for (const c of [...this.h.conns]) c.close(CloseCode.GENERATION_SEALED, this.reason);
    this.h.done();
  }
}
