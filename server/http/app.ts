/**
 * The relay's Hono app: HTTP API, WebSocket routes, probes, metrics and (standalone only)
 * the built client. Assembled by createRelay (create-relay.ts).
 */
import { serveStatic } from '@hono/node-server/serve-static';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { existsSync } from 'node:fs';
import type { AppEnv, RelayContext } from '../context.ts';
import { errorResponse, notFound } from './http-error.ts';
import { adminFederationRoutes } from './routes/admin-federation.ts';
import { memberRoutes } from './routes/members.ts';
import { adminErasureRoutes } from './routes/admin-erasure.ts';
import { devRoutes } from './routes/dev.ts';
import { eventsHandler } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { limitBody } from './limit-body.ts';
import { limitWrites } from './limit-writes.ts';
import { requireUser } from './require-user.ts';
import { syncHandler } from './routes/sync.ts';
import { threadRoutes } from './routes/threads.ts';

/** Capabilities as they are right now (DESIGN.md: never advertise what is off). */
async function capabilities(ctx: RelayContext) {
  const bridge = ctx.bridge?.status() ?? null;
  const ingest = (await ctx.ingest?.status()) ?? null;
  return {
    protocol: 'y-websocket',
    syncPath: '/v1/sync',
    devAuth: ctx.config.devAuth,
    atproto: {
      // A bridge still making its first login is on: messages queue in the outbox meanwhile.
      features: { write_bridge: !!bridge && (bridge.loggedIn || bridge.starting), repo_ingest: !!ingest?.active },
      did: bridge?.did ?? null,
      service: bridge?.service ?? null,
      mirrorDefault: ctx.config.atproto.mirrorDefault,
      // The embedded PDS still starting (write_bridge false until the bridge exists, but
      // mirrored threads can be created and their messages queue), or failed to start.
      starting: !!ctx.bridgeStarting,
      degraded: bridge?.degraded ?? (!!ctx.bridgeStarting || !!ctx.bridgeFailed),
      ...(bridge?.reason ? { reason: bridge.reason } : ctx.bridgeStarting ? { reason: 'pds_starting' } : ctx.bridgeFailed ? { reason: 'pds_failed' } : {}),
      ...(bridge ? { queueDepth: bridge.queueDepth, oldestPendingAgeMs: bridge.oldestPendingAgeMs } : {}),
      // Ingest is reported on its own so a failing source never reads as a failing bridge.
      ingest: {
        sources: ingest?.sources ?? 0,
        degraded: ingest?.degraded ?? false,
        ...(ingest?.reason ? { reason: ingest.reason } : {}),
      },
    },
    limits: { ...ctx.config.limits },
  };
}

export function createApp(ctx: RelayContext) {
  const app = new Hono<AppEnv>();
  const { upgradeWebSocket, injectWebSocket, wss } = createNodeWebSocket({ app });
  // ws enforces the larger of the two; SyncConnection allows the backlog size only for a
  // connection's first sync step 2.
  wss.options.maxPayload = Math.max(ctx.config.limits.maxFrameBytes, ctx.config.limits.maxBacklogBytes);

  app.onError((err, c) => {
    if (!('status' in err)) ctx.log.error({ event: 'http_error', path: c.req.path, err: String(err) }, 'request failed');
    return errorResponse(c, err);
  });
  app.notFound((c) => errorResponse(c, notFound('no such route')));

  // Bodies are limited before any route (or auth) looks at them; thread creation's own
  // limit is registered first because the first limit to run is the one that applies.
  app.post('/v1/threads', limitBody(ctx.config.limits.maxThreadBodyBytes, ctx.log));
  app.use('*', limitBody(ctx.config.limits.maxBodyBytes, ctx.log));

  const v1 = new Hono<AppEnv>();
  v1.route('/', healthRoutes(ctx));
  v1.get('/capabilities', async (c) => c.json(await capabilities(ctx)));
  if (ctx.config.ingest.adminToken) v1.route('/admin/federation', adminFederationRoutes(ctx, ctx.config.ingest.adminToken));
  if (ctx.config.ingest.adminToken) v1.route('/admin/erasure', adminErasureRoutes(ctx, ctx.config.ingest.adminToken));
  if (ctx.config.devAuth) v1.route('/dev', devRoutes(ctx));
  v1.get('/sync/:threadId', syncHandler(ctx, upgradeWebSocket));
  v1.get('/events', eventsHandler(ctx, upgradeWebSocket));
  // Not behind the write limiter: every (re)connect takes a ticket, and a relay restart
  // brings every client back at once. The ticket map is bounded instead (tickets.ts).
  if (ctx.config.ticketTtlMs > 0) {
    v1.post('/tickets', requireUser(ctx), async (c) => c.json({ ticket: await ctx.tickets.issue(c.get('userId')), expiresInMs: ctx.config.ticketTtlMs }));
  }
  const writes = limitWrites(ctx.config.limits);
  // '/threads/*' also matches '/threads' itself.
  v1.use('/threads/*', requireUser(ctx), writes);
  v1.route('/threads', threadRoutes(ctx));
  v1.route('/threads', memberRoutes(ctx));
  app.route('/v1', v1);
  // Benchmarks only (node --expose-gc and SKEIN_BENCH_GC_BEFORE_METRICS=1): collect garbage
  // first, so heap figures show what is retained, not what is merely not collected yet.
  const gcFirst = process.env.SKEIN_BENCH_GC_BEFORE_METRICS === '1' ? (globalThis as { gc?: () => void }).gc : undefined;
  app.get('/metrics', async (c) => {
    gcFirst?.();
    return c.body(await ctx.metrics.registry.metrics(), 200, { 'content-type': ctx.metrics.registry.contentType });
  });
  // The built client (web app, SDK test page) from the same origin, so it needs no CORS.
  if (ctx.config.staticDir && existsSync(ctx.config.staticDir)) app.get('/*', serveStatic({ root: ctx.config.staticDir }));
  return { app, injectWebSocket, wss };
}
