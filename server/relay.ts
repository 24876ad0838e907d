/**
 * Assembles the relay: storage, document registry, Hono app (HTTP + WebSocket) and the
 * Node HTTP server. `startRelay` is what `npm start` and the tests run.
 */
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { CloseCode } from '../shared/errors.ts';
import { Auth } from './auth.ts';
import { ConfigError, type RelayConfig } from './config.ts';
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts';
import type { AppEnv, RelayContext } from './context.ts';
import { DocRegistry } from './doc-registry.ts';
import { errorResponse, notFound } from './http-error.ts';
import { createLogger } from './logger.ts';
import { devRoutes } from './routes/dev.ts';
import { limitWrites } from './routes/limit-writes.ts';
import { requireUser } from './routes/require-user.ts';
import { eventsHandler } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { syncHandler } from './routes/sync.ts';
import { threadRoutes } from './routes/threads.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import type { BridgeOutbox } from './bridge-outbox.ts';
import type { LocalPds } from './local-pds.ts';
import { RelayMetrics } from './metrics.ts';
import { UserEvents } from './user-events.ts';

export interface RunningRelay {
  url: string;
  port: number;
  ctx: RelayContext;
  close(): Promise<void>;
}

/** Capabilities as they are right now (DESIGN.md: never advertise what is off). */
function capabilities(ctx: RelayContext) {
  const bridge = ctx.bridge?.status() ?? null;
  return {
    protocol: 'y-websocket',
    syncPath: '/v1/sync',
    devAuth: ctx.config.devAuth,
    atproto: {
      // A bridge still making its first login is on: messages queue in the outbox meanwhile.
      features: { write_bridge: !!bridge && (bridge.loggedIn || bridge.starting), repo_ingest: false },
      did: bridge?.did ?? null,
      service: bridge?.service ?? null,
      mirrorDefault: ctx.config.atproto.mirrorDefault,
      degraded: bridge?.degraded ?? false,
      ...(bridge?.reason ? { reason: bridge.reason } : {}),
      ...(bridge ? { queueDepth: bridge.queueDepth, oldestPendingAgeMs: bridge.oldestPendingAgeMs } : {}),
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

  const v1 = new Hono<AppEnv>();
  v1.route('/', healthRoutes(ctx));
  v1.get('/capabilities', (c) => c.json(capabilities(ctx)));
  if (ctx.config.devAuth) v1.route('/dev', devRoutes(ctx));
  v1.get('/sync/:threadId', syncHandler(ctx, upgradeWebSocket));
  v1.get('/events', eventsHandler(ctx, upgradeWebSocket));
  const { httpWritesPerMinute, httpWriteBurst } = ctx.config.limits;
  const writes = limitWrites(httpWritesPerMinute, httpWriteBurst);
  // '/threads/*' also matches '/threads' itself.
  v1.use('/threads/*', requireUser(ctx.auth), writes);
  v1.route('/threads', threadRoutes(ctx));
  app.route('/v1', v1);
  app.get('/metrics', async (c) =>
    c.body(await ctx.metrics.registry.metrics(), 200, { 'content-type': ctx.metrics.registry.contentType }),
  );
  // The built client (web app, SDK test page) from the same origin, so it needs no CORS.
  if (existsSync(ctx.config.staticDir)) app.get('/*', serveStatic({ root: ctx.config.staticDir }));
  return { app, injectWebSocket, wss };
}

/** Listens on the configured port; a port in use is a configuration error, not a crash. */
function listen(app: Hono<AppEnv>, config: RelayConfig): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError('PORT', `port ${config.port} on ${config.host} is already in use; stop what runs there or set PORT`));
      else if (err.code === 'EACCES') reject(new ConfigError('PORT', `not allowed to listen on port ${config.port} on ${config.host}`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new ConfigError('HOST', `${config.host} is not an address of this machine`));
      else reject(err);
    });
  });
}

export async function startRelay(config: RelayConfig): Promise<RunningRelay> {
  // Before anything touches the data directory (the embedded PDS wipes its files).
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLocked(config, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startLocked(config: RelayConfig, lock: DataDirLock): Promise<RunningRelay> {
  const log = createLogger(config.logLevel);
  const store = new SqliteStore(join(config.dataDir, 'skein.sqlite'), { synchronous: config.sqliteSync });
  let bridge: BridgeOutbox | null = null;
  const registry = new DocRegistry(store, log, {
    idleUnloadMs: config.idleUnloadMs,
    compactAfterUpdates: config.compactAfterUpdates,
    maxTextLength: config.limits.maxTextLength,
    onMirroredCommit: () => bridge?.notify(),
  });
  const metrics = new RelayMetrics();
  const userEvents = new UserEvents();
  const ctx: RelayContext = { config, store, registry, auth: new Auth({ secret: config.jwtSecret, jwks: config.jwks }), log, metrics, bridge: null, userEvents };

  const at = config.atproto;
  let localPds: LocalPds | null = null;
  if (at.service !== 'off') {
    // Loaded only when the bridge is on: @atproto/api alone takes seconds to import.
    const [{ AgentRepoClient }, { BridgeOutbox }, { startLocalPds }] = await Promise.all([
      import('./at-client.ts'),
      import('./bridge-outbox.ts'),
      import('./local-pds.ts'),
    ]);
    let service = at.service;
    let identifier = at.identifier;
    let password = at.password;
    if (at.service === 'local') {
      localPds = await startLocalPds(at.localPort, config.dataDir);
      ({ url: service, did: identifier, password } = localPds);
      log.info({ event: 'local_pds_started', service, did: localPds.did, handle: localPds.handle }, `local PDS (ephemeral) at ${service}`);
    }
    const client = new AgentRepoClient({
      service,
      identifier,
      password,
      // The local PDS is new on every start, so its session is not worth keeping.
      sessionFile: localPds ? null : join(config.dataDir, 'atproto-session.json'),
    });
    bridge = new BridgeOutbox({ store, registry, client, log, metrics, opts: at });
    ctx.bridge = bridge;
    bridge.start();
  }
  const { app, injectWebSocket, wss } = createApp(ctx);

  let server: ServerType;
  try {
    server = await listen(app, config);
  } catch (err) {
    await bridge?.stop();
    await registry.closeAll();
    await store.close();
    await localPds?.close();
    throw err;
  }
  injectWebSocket(server);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  if (config.devAuth) {
    log.warn({ event: 'dev_auth_enabled' }, 'DEV AUTH IS ON: anyone can mint a token at POST /v1/dev/token. Set SKEIN_DEV_AUTH=0 in production.');
  }
  log.info({ event: 'listening', url, port, dataDir: config.dataDir }, `Skein relay listening on ${url}`);

  return {
    url,
    port,
    ctx,
    async close() {
      ctx.draining = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      // A WebSocket whose (async) upgrade completes during shutdown is not in wss.clients
      // yet and would keep server.close() waiting forever: close late arrivals too, and
      // cut whatever is still open after a grace period.
      wss.on('connection', (ws) => ws.close(CloseCode.GOING_AWAY, 'relay shutting down'));
      userEvents.closeAll(CloseCode.GOING_AWAY, 'relay shutting down');
      for (const ws of wss.clients) ws.close(CloseCode.GOING_AWAY, 'relay shutting down');
      const force = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }, 3000);
      await closed;
      clearTimeout(force);
      await bridge?.stop();
      await registry.closeAll();
      await store.close();
      await localPds?.close();
      lock.release();
    },
  };
}
