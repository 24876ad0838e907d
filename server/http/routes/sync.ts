/**
 * `GET /v1/sync/:docName?ticket=…` (or `?token=…`): the y-websocket endpoint; the document is a thread's
 * live generation (`Thread.liveDoc`: the thread id, or `<id>~<generation>`). The upgrade is always
 * accepted so that refusals reach the client as documented close codes (y-websocket
 * stops reconnecting on 44xx) rather than as opaque HTTP failures. A connection to a
 * sealed generation first hands over what its peer wrote there (sealed-sync.ts).
 */
import type { UpgradeWebSocket } from 'hono/ws';
import type { WebSocket } from 'ws';
import { CloseCode, connectionLimitReason } from '../../../shared/errors.ts';
import { parseDocName } from '../../../shared/generation.ts';
import type { RelayContext } from '../../context.ts';
import { authenticateUpgrade } from '../auth.ts';
import { SyncConnection } from '../../room/sync-connection.ts';
import type { ThreadRow } from '../../store/store.ts';
import { type SealedSync, sealedSync } from './sealed-sync.ts';
import { ensureClientStillThere } from '../upgrade-guard.ts';

type Refusal = { code: number; reason: string };

/**
 * ws itself closes an oversize frame with 1009, which y-websocket treats as transient
 * and would answer by reconnecting and resending the same update forever. Route that
 * close through 4413, which the stock client does not retry.
 */
function closeOversizeAs4413(ws: WebSocket): void {
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) =>
    code === 1009 ? close(CloseCode.TOO_LARGE, 'frame too large') : close(code, reason);
}

/** Why `userId` may not open `generation` of `thread` (null: it may). */
async function accessRefusal(ctx: RelayContext, thread: ThreadRow | null, generation: number, userId: string): Promise<Refusal | null> {
  if (!thread || generation > thread.generation) return { code: CloseCode.UNKNOWN_THREAD, reason: 'unknown thread' };
  if (!(await ctx.isMember(thread, userId))) return { code: CloseCode.NOT_A_MEMBER, reason: 'not a participant' };
  if (generation < thread.generation) return { code: CloseCode.GENERATION_SEALED, reason: `generation_rolled ${thread.liveDoc}` };
  return null;
}

export function syncHandler(ctx: RelayContext, upgradeWebSocket: UpgradeWebSocket<WebSocket>) {
  /** Open sync connections per user, across threads. */
  const perUser = new Map<string, number>();
  return upgradeWebSocket(async (c) => {
    const docName = c.req.param('threadId') ?? '';
    const userId = await authenticateUpgrade(ctx, c.req.raw, (name) => c.req.query(name));
    let refusal: Refusal | null = null;
    let thread: ThreadRow | null = null;
    let { threadId, generation } = parseDocName(docName);
    if (!userId) refusal = { code: CloseCode.UNAUTHENTICATED, reason: 'invalid or missing token or ticket' };
    else if (!ctx.backends.writable()) refusal = { code: CloseCode.BACKEND_UNAVAILABLE, reason: ctx.backends.unavailable() };
    else {
      // A thread created before generations existed may have `~` in its own id.
      try {
        thread = generation > 0 ? ((await ctx.store.getThread(docName)) ?? null) : null;
        if (thread) ({ threadId, generation } = { threadId: docName, generation: 0 });
        else thread = await ctx.store.getThread(threadId);
      } catch {
        // The store is unreachable (a probe has not noticed yet): transient, like the gate above.
        refusal = { code: CloseCode.BACKEND_UNAVAILABLE, reason: 'backend unavailable: store' };
      }
      refusal ??= await accessRefusal(ctx, thread, generation, userId);
    }
    ensureClientStillThere(c, ctx.metrics);
    let conn: SyncConnection | null = null;
    let sealed: SealedSync | null = null;
    let counted = false;
    return {
      onOpen(_evt, ws) {
        closeOversizeAs4413(ws.raw!);
        const sealedGeneration = refusal?.code === CloseCode.GENERATION_SEALED;
        if ((!refusal || sealedGeneration) && userId && (perUser.get(userId) ?? 0) >= ctx.config.limits.connectionsPerUser) {
          // Transient: the user is over the cap only until another of their sockets closes.
          refusal = { code: CloseCode.CONNECTION_LIMIT, reason: connectionLimitReason('connections', ctx.config.limits.connectionRetryAfterMs) };
        } else if (sealedGeneration && thread && userId) {
          // Its peer may hold messages written offline there: collected before the 4410.
          perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
          counted = true;
          ctx.metrics.wsConnections.inc({ socket: 'sync' });
          sealed = sealedSync(ctx, ws.raw!, thread, userId, refusal!.reason);
          return;
        }
        if (refusal || !thread || !userId) {
          ctx.log.info({ event: 'ws_refused', code: refusal?.code, threadId, userId }, 'sync connection refused');
          ws.close(refusal!.code, refusal!.reason);
          return;
        }
        const { limits, pingIntervalMs } = ctx.config;
        perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
        counted = true;
        ctx.metrics.wsConnections.inc({ socket: 'sync' });
        const c = (conn = new SyncConnection(ws.raw!, userId, threadId, ctx.log, { pingIntervalMs, limits }));
        ctx.registry.acquire(thread).then(
          (room) => room.join(c, generation),
          (err) => {
            ctx.log.error({ event: 'doc_load_failed', threadId, err: String(err) }, 'loading document failed');
            c.close(CloseCode.STORAGE_FAILURE, 'could not load thread');
          },
        );
      },
      onMessage(evt) {
        const data = evt.data;
        if (sealed) return sealed.receive(typeof data === 'string' ? new Uint8Array() : new Uint8Array(data as ArrayBuffer));
        conn?.receive(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
      },
      onClose() {
        sealed?.closed();
        if (counted && userId) {
          ctx.metrics.wsConnections.dec({ socket: 'sync' });
          const n = (perUser.get(userId) ?? 1) - 1;
          if (n <= 0) perUser.delete(userId);
          else perUser.set(userId, n);
        }
        conn?.onClosed();
      },
    };
  });
}
