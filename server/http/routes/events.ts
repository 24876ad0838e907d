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
import { Heartbeat } from '../../ops/heartbeat.ts';
import { authenticateUpgrade } from '../auth.ts';
import { ensureClientStillThere } from '../upgrade-guard.ts';

export function eventsHandler(ctx: RelayContext, upgradeWebSocket: UpgradeWebSocket<WebSocket>) {
  return upgradeWebSocket(async (c) => {
    const userId = await authenticateUpgrade(ctx, c.req.raw, (name) => c.req.query(name));
    ensureClientStillThere(c, ctx.metrics);
    let joined = false;
    let stopPing: (() => void) | null = null;
    return {
      onOpen(_evt, ws) {
        const raw = ws.raw!;
        if (!userId) return ws.close(CloseCode.UNAUTHENTICATED, 'invalid or missing token or ticket');
        // Event sockets per user (a tab holds one): SKEIN_MAX_EVENT_SOCKETS_PER_USER.
        if (ctx.userEvents.count(userId) >= ctx.config.limits.eventSocketsPerUser) {
          // Transient: a tab closing frees a slot.
          ctx.log.info({ event: 'ws_refused', socket: 'events', code: CloseCode.CONNECTION_LIMIT, userId }, 'events connection refused');
          return ws.close(CloseCode.CONNECTION_LIMIT, connectionLimitReason('event connections', ctx.config.limits.connectionRetryAfterMs));
        }
        ctx.userEvents.add(userId, raw);
        joined = true;
        ctx.metrics.wsConnections.inc({ socket: 'events' });
        ctx.log.debug({ event: 'events_connected', userId }, 'events connection accepted');
        // As on the sync socket: a peer that leaves two pings unanswered is dropped at the
        // next one (within 3 × SKEIN_PING_INTERVAL_MS), and its slot is free again. Two, not
        // one: a relay busy for a whole interval handles a pong after its timer.
        let missed = 0;
        raw.on('pong', () => (missed = 0));
        stopPing = Heartbeat.every(ctx.config.pingIntervalMs).add(() => {
          if (missed >= 2) {
            ctx.log.info({ event: 'ws_close', socket: 'events', code: CloseCode.UNRESPONSIVE, reason: 'ping timeout', userId }, 'closing events connection');
            raw.close(CloseCode.UNRESPONSIVE, 'ping timeout');
            return raw.terminate(); // no closing handshake with a peer that is gone
          }
          missed++;
          raw.ping();
        });
      },
      onMessage(_evt, ws) {
        ws.close(CloseCode.MALFORMED, 'the events socket takes no input');
      },
      onClose(_evt, ws) {
        stopPing?.();
        if (joined && userId) {
          ctx.userEvents.remove(userId, ws.raw!);
          ctx.metrics.wsConnections.dec({ socket: 'events' });
        }
      },
    };
  });
}
