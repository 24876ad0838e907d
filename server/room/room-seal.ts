/**
 * The end of a room's generation (docs/data-model.md, "Windowed threads"): rolled here once
 * it holds enough messages, or sealed because another instance rolled it first (the fan-out
 * said so, or the store refused a write of this generation). Either way nothing more is
 * applied or stored, and the room closes every connection with 4410 naming the live document.
 * These functions store and read; the room (thread-room.ts) takes the new row and closes.
 */
import * as Y from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { Logger } from '../ops/logger.ts';
import type { GenerationSealedError, Store, ThreadRow } from '../store/store.ts';
import { nextGeneration } from './generation-roll.ts';

/** The 4410 reason: the live document to go to. */
export const sealReason = (thread: ThreadRow): string => `generation_rolled ${thread.liveDoc}`;

/**
 * Rolls `thread`'s live document (`roots`): one store transaction starts the next generation.
 * Returns the next generation's row (or the stored row when another instance rolled first), or
 * null when the roll failed and the generation stays live (tried again after the next commit).
 */
export async function rollGeneration(store: Store, log: Logger, thread: ThreadRow, roots: ThreadRoots): Promise<ThreadRow | null> {
  const { snapshot, receipts } = nextGeneration(roots);
  // What the sealed generation holds, per writer: an SDK carries only its writes beyond it.
  const sealedState = Y.encodeStateVector(roots.meta.doc!);
  try {
    const next = await store.rollGeneration(thread.id, thread.generation, snapshot, receipts, sealedState);
    const row = next ?? (await store.getThread(thread.id).catch(() => null)) ?? thread;
    log.info({ event: 'generation_rolled', threadId: thread.id, generation: row.generation, baseSeq: row.baseSeq }, 'generation rolled');
    return row;
  } catch (err) {
    log.error({ event: 'roll_failed', threadId: thread.id, err: String(err) }, 'rolling the generation failed');
    return null;
  }
}

/** The row of the generation that replaced `thread`'s (another instance rolled it), or `thread` when unknown. */
export async function sealedElsewhere(store: Store, log: Logger, thread: ThreadRow, row?: ThreadRow, refused?: GenerationSealedError): Promise<ThreadRow> {
  if (refused) log.info({ event: 'write_refused_sealed', threadId: thread.id, generation: refused.generation, liveGeneration: refused.liveGeneration }, 'write refused: generation sealed');
  const next = row ?? (await store.getThread(thread.id).catch(() => null));
  const live = next && next.generation > thread.generation ? next : thread;
  log.info({ event: 'generation_sealed_elsewhere', threadId: thread.id, generation: live.generation }, 'generation rolled by another instance');
  return live;
}
