/**
 * A sync connection to a sealed generation (its peer was offline while the thread rolled).
 * Before the 4410 that names the live document, the relay asks the peer for its whole copy
 * (sync step 1 with an empty state vector), appends the peer's own messages that no
 * generation stored yet to the live generation (room/sealed-salvage.ts), and only then
 * closes. So a stock y-websocket client, which knows nothing of generations, loses nothing;
 * the SDK re-appends by id on its own as well, and the relay dedups by id.
 */
import * as Y from 'yjs';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../../shared/errors.ts';
import type { RelayContext } from '../../context.ts';
import { ownRecords } from '../../room/sealed-salvage.ts';
import type { ThreadRow } from '../../store/store.ts';
import { decodeFrame, encodeSyncStep1 } from '../../room/sync-protocol.ts';

/** How long the relay waits for the peer's copy before it closes anyway. */
export const SALVAGE_WAIT_MS = 3000;

/** Receives the frames of a sealed-generation connection; call `closed` when the socket closes. */
export interface SealedSync {
  receive(data: Uint8Array): void;
  closed(): void;
}

export function sealedSync(ctx: RelayContext, ws: WebSocket, thread: ThreadRow, userId: string, reason: string): SealedSync {
  const { maxBacklogBytes, maxTextLength } = ctx.config.limits;
  const updates: Uint8Array[] = [];
  let bytes = 0;
  let done = false;
  const timer = setTimeout(() => void finish(), SALVAGE_WAIT_MS);
  const close = (code: number, why: string) => {
    if (ws.readyState === ws.OPEN) ws.close(code, why);
  };
  const finish = async () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    try {
      const saved = await salvage(ctx, thread, ownRecords(updates, userId, maxTextLength));
      if (saved) ctx.log.info({ event: 'sealed_salvaged', threadId: thread.id, userId, messages: saved }, 'appended offline messages from a sealed generation');
    } catch (err) {
      // The peer keeps its copy: the SDK re-appends on 4410, and a reconnect tries again.
      ctx.log.warn({ event: 'sealed_salvage_failed', threadId: thread.id, userId, err: String(err) }, 'salvaging a sealed generation failed');
    }
    close(CloseCode.GENERATION_SEALED, reason);
  };
  ws.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())));
  return {
    receive(data) {
      if (done) return;
      let frame;
      try {
        frame = decodeFrame(data);
      } catch {
        done = true;
        clearTimeout(timer);
        return close(CloseCode.MALFORMED, 'malformed frame');
      }
      if (frame.kind !== 'update') return; // its step 1 and awareness need no answer here
      bytes += frame.update.byteLength;
      if (bytes > maxBacklogBytes) {
        done = true;
        clearTimeout(timer);
        return close(CloseCode.TOO_LARGE, 'backlog too large');
      }
      updates.push(frame.update);
      // The answer to the empty state vector is the whole copy: nothing more is needed.
      if (frame.step2) void finish();
    },
    closed() {
      done = true;
      clearTimeout(timer);
    },
  };
}

/** Appends the records no generation of the thread stored yet; resolves with how many were new. */
async function salvage(ctx: RelayContext, thread: ThreadRow, records: ReturnType<typeof ownRecords>): Promise<number> {
  if (records.length === 0) return 0;
  const stored = new Set((await ctx.store.getMessages(thread.id, records.map((r) => r.id))).map((m) => m.id));
  const fresh = records.filter((r) => !stored.has(r.id));
  if (fresh.length === 0) return 0;
  const live = (await ctx.store.getThread(thread.id)) ?? thread;
  // An archived thread takes no more messages; the SDK's own re-append shows them refused.
  if (live.archived) return 0;
  const appended = await ctx.registry.withLiveRoom(live, (room) => room.appendSalvaged(fresh));
  return appended.length;
}
