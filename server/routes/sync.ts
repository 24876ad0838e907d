/**
 * `GET /v1/sync/:threadId?token=…`: the y-websocket endpoint. The upgrade is always
 * accepted so that refusals reach the client as documented close codes (y-websocket
 * stops reconnecting on 44xx) rather than as opaque HTTP failures.
 */
import type { UpgradeWebSocket } from 'hono/ws';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../shared/errors.ts';
import type { RelayContext } from '../context.ts';
import { SyncConnection } from '../sync-connection.ts';
import type { ThreadRow } from '../store/store.ts';

type Refusal = { code: number; reason: string };

export function syncHandler(ctx: RelayContext, upgradeWebSocket: UpgradeWebSocket<WebSocket>) {
  return upgradeWebSocket(async (c) => {
    const threadId = c.req.param('threadId') ?? '';
    const userId = await ctx.auth.verify(c.req.query('token'));
    let refusal: Refusal | null = null;
    let thread: ThreadRow | null = null;
    if (!userId) refusal = { code: CloseCode.UNAUTHENTICATED, reason: 'invalid or missing token' };
    else {
      thread = await ctx.store.getThread(threadId);
      if (!thread) refusal = { code: CloseCode.UNKNOWN_THREAD, reason: 'unknown thread' };
      else if (!thread.participants.includes(userId)) refusal = { code: CloseCode.NOT_A_MEMBER, reason: 'not a participant' };
    }
    let conn: SyncConnection | null = null;
    return {
      onOpen(_evt, ws) {
        if (refusal || !thread || !userId) {
          ctx.log.info({ event: 'ws_refused', code: refusal?.code, threadId, userId }, 'sync connection refused');
          ws.close(refusal!.code, refusal!.reason);
          return;
        }
        const { limits, pingIntervalMs } = ctx.config;
        const c = (conn = new SyncConnection(ws.raw!, userId, threadId, ctx.log, {
          pingIntervalMs,
          maxFrameBytes: limits.maxFrameBytes,
          maxBufferedBytes: 8 * 1_048_576,
        }));
        ctx.registry.acquire(thread).then(
          (room) => room.join(c),
          (err) => {
            ctx.log.error({ event: 'doc_load_failed', threadId, err: String(err) }, 'loading document failed');
            c.close(CloseCode.STORAGE_FAILURE, 'could not load thread');
          },
        );
      },
      onMessage(evt) {
        const data = evt.data;
        conn?.receive(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
      },
      onClose() {
        conn?.onClosed();
      },
    };
  });
}
