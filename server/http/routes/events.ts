/**
 * `GET /v1/events?ticket=…` (or `?token=…`): a WebSocket that pushes the caller's thread-list changes (see
 * user-events.ts). Authenticated like the sync socket; the upgrade is always accepted so
 * that refusals arrive as documented close codes. Clients only listen: any frame they send
 * closes the socket (4400).
 */
import type { UpgradeWebSocket } from 'hono/ws';
import type { WebSocket } from 'ws';
import { CloseCode, connectionLimitReason } from '../../../shared/errors.ts';
import type { RelayContext } from '../../context.ts';
import { authenticateUpgrade } from '../auth.ts';
import { ensureClientStillThere } from '../upgrade-guard.ts';

/** Event sockets per user (a tab holds one). */
export const MAX_EVENT_SOCKETS_PER_USER = 32;

export function eventsHandler(ctx: RelayContext, upgradeWebSocket: UpgradeWebSocket<WebSocket>) {
  return upgradeWebSocket(async (c) => {
    const userId = await authenticateUpgrade(ctx, c.req.raw, (name) => c.req.query(name));
    ensureClientStillThere(c, ctx.metrics);
    let joined = false;
    let ping: ReturnType<typeof setInterval> | null = null;
    return {
      onOpen(_evt, ws) {
        const raw = ws.raw!;
        if (!userId) return ws.close(CloseCode.UNAUTHENTICATED, 'invalid or missing token or ticket');
        if (ctx.userEvents.count(userId) >= MAX_EVENT_SOCKETS_PER_USER) {
          // Transient: a tab closing frees a slot.
          return ws.close(CloseCode.CONNECTION_LIMIT, connectionLimitReason('event connections', ctx.config.limits.connectionRetryAfterMs));
        }
        ctx.userEvents.add(userId, raw);
        joined = true;
        // A peer that shows no life for two pings is dropped, as on the sync socket.
        let alive = true;
        raw.on('pong', () => (alive = true));
        ping = setInterval(() => {
          if (!alive) return raw.terminate();
          alive = false;
          raw.ping();
        }, ctx.config.pingIntervalMs * 2);
      },
      onMessage(_evt, ws) {
        ws.close(CloseCode.MALFORMED, 'the events socket takes no input');
      },
      onClose(_evt, ws) {
        if (ping) clearInterval(ping);
        if (joined && userId) ctx.userEvents.remove(userId, ws.raw!);
      },
    };
  });
}
