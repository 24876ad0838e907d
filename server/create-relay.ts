/**
 * The relay as a library: `createRelay(options)` gives a Hono app to mount in your own Hono
 * app on Node, the hook that attaches its WebSockets to your HTTP server, and `close()`.
 * The standalone relay (`npm start`, relay.ts) is built on the same function.
 *
 * ```ts
 * const relay = await createRelay({ authenticate: ({ token }) => mySessions.userOf(token) });
 * app.route('/chat', relay.app);
 * const server = serve({ fetch: app.fetch, port: 3000 });
 * relay.injectWebSocket(server);
 * ```
 */
import type { Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { CloseCode } from '../shared/errors.ts';
import { Auth } from './http/auth.ts';
import type { BridgeOutbox } from './at/bridge/outbox.ts';
import { type AtprotoConfig, ConfigError, type Limits, type RelayConfig, loadConfig } from './config/config.ts';
import type { AppEnv, RelayContext } from './context.ts';
import { DocRegistry } from './room/doc-registry.ts';
import { IngestService } from './at/ingest/ingest-service.ts';
import type { LocalPds } from './at/local-pds.ts';
import { type Logger, createLogger } from './ops/logger.ts';
import { RelayMetrics } from './ops/metrics.ts';
import { createApp } from './http/app.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import { intakeLimits } from './room/room-intake.ts';
import { ThreadMeters } from './room/thread-meters.ts';
import { BacklogOffload } from './room/backlog-offload.ts';
import type { RedisBacklogBudget } from './fanout/redis-backlog-budget.ts';
import type { Store, StoredMessage, ThreadRow } from './store/store.ts';
import { UserEvents } from './http/user-events.ts';
import type { Fanout } from './fanout/fanout.ts';
import { InProcessFanout } from './fanout/in-process-fanout.ts';
import { BackendHealth } from './ops/backend-health.ts';
import { TicketStore } from './http/tickets.ts';

/** Settings for an embedded relay; anything left out has the standalone relay's default. */
export type RelayConfigInput = Partial<Omit<RelayConfig, 'limits' | 'atproto'>> & {
  limits?: Partial<Limits>;
  atproto?: Partial<AtprotoConfig>;
};

/** Payload of the `authenticate` hook. */
export interface AuthenticatePayload {
  /** The HTTP request, or the WebSocket upgrade request. */
  request: Request;
  /** The bearer token (`Authorization: Bearer …`, or `?token=` on WebSockets), or null. */
  token: string | null;
}

/** Payload of the `isMember` hook. */
export interface MembershipPayload {
  thread: ThreadRow;
  userId: string;
}

/** What `onEvent` observes. `message` is the stored message (text included: do not log it). */
export type RelayEvent =
  | { type: 'message.sequenced'; threadId: string; message: StoredMessage }
  | { type: 'message.confirmed'; threadId: string; message: StoredMessage }
  | { type: 'message.failed'; threadId: string; message: StoredMessage };

export interface CreateRelayOptions {
  config?: RelayConfigInput;
  /**
   * Storage; default PostgreSQL when `config.databaseUrl` is set, else a SQLite file in
   * `config.dataDir`. A store you pass is not closed by `close()`.
   */
  store?: Store;
  /**
   * Who a request acts as: a user id, or null to refuse (401 / close 4401). Default: the
   * token verified against `config.jwtSecret` / `config.jwks`.
   */
  authenticate?: (p: AuthenticatePayload) => string | null | Promise<string | null>;
  /** Whether a user may use a thread (403 / close 4403). Default: the thread's participants. */
  isMember?: (p: MembershipPayload) => boolean | Promise<boolean>;
  /** Observes messages being sequenced and their AT mirror settling. Errors it throws are logged. */
  onEvent?: (e: RelayEvent) => void;
  /** A pino logger; default JSON lines on stdout at `config.logLevel`. */
  logger?: Logger;
}

type NodeServer = HttpServer | Http2Server | Http2SecureServer;

export interface Relay {
  /** Mount it: `app.route('/chat', relay.app)` (or serve it as it is). */
  app: Hono<AppEnv>;
  /** Attaches the relay's WebSockets (`…/v1/sync/:threadId`, `…/v1/events`) to your server. */
  injectWebSocket(server: NodeServer): void;
  ctx: RelayContext;
  /**
   * Closes sockets (4500), waits for `drained` (e.g. your server's close, so in-flight HTTP
   * requests finish first), stops the bridge, unloads documents, closes its own store.
   */
  close(opts?: { drained?: Promise<unknown> }): Promise<void>;
}

/** Upgrade paths the relay answers, under whatever prefix it is mounted at. */
const WS_PATH = /^(.*?)(\/v1\/(?:sync\/[^/]+|events))$/;

export function resolveConfig(input: RelayConfigInput = {}): RelayConfig {
  const base = loadConfig(input.dataDir ? { SKEIN_DATA_DIR: input.dataDir } : {}, { requireAuth: false });
  return {
    ...base,
    staticDir: '',
    ...input,
    limits: { ...base.limits, ...input.limits },
    atproto: { ...base.atproto, ...input.atproto },
  } as RelayConfig;
}

export async function createRelay(opts: CreateRelayOptions = {}): Promise<Relay> {
  const config = resolveConfig(opts.config);
  if (!opts.authenticate && !config.jwtSecret && !config.jwks) {
    throw new ConfigError('authenticate', 'give an authenticate hook, config.jwtSecret or config.jwks');
  }
  const log = opts.logger ?? createLogger(config.logLevel);
  const ownStore = !opts.store;
  const store = opts.store ?? (await openStore(config));
  let fanout: Fanout;
  try {
    fanout = await openFanout(config, log);
  } catch (err) {
    if (ownStore) await store.close();
    throw err;
  }
  // Several instances share each user's offline-backlog budget through Redis (thread-meters.ts).
  let sharedBudget: RedisBacklogBudget | null = null;
  if (config.redisUrl) {
    try {
      const { backlogBudget, backlogPerSecond } = config.limits;
      // Loaded only with Redis: ioredis is ~9 MiB of a relay's RSS (issue 29).
      const { RedisBacklogBudget } = await import('./fanout/redis-backlog-budget.ts');
      sharedBudget = await new RedisBacklogBudget(config.redisUrl, config.redisPrefix, backlogBudget, backlogPerSecond, log).open();
    } catch (err) {
      await fanout.close();
      if (ownStore) await store.close();
      throw err;
    }
  }
  const emit = (type: RelayEvent['type'], messages: StoredMessage[]) => {
    if (!opts.onEvent) return;
    for (const message of messages) {
      try {
        opts.onEvent({ type, threadId: message.threadId, message });
      } catch (err) {
        log.error({ event: 'hook_failed', hook: 'onEvent', err: String(err) }, 'onEvent hook threw');
      }
    }
  };
  let bridge: BridgeOutbox | null = null;
  const backends = new BackendHealth({ store, fanout, redis: !!config.redisUrl, log });
  backends.start();
  // Started on the first large offline backlog, not before (backlog-offload.ts).
  const backlogOffload = new BacklogOffload(log);
  const registry = new DocRegistry(store, log, {
    idleUnloadMs: config.idleUnloadMs,
    compactAfterUpdates: config.compactAfterUpdates,
    compactGrowthPercent: config.compactGrowthPercent,
    generationMessages: config.generationMessages,
    maxTextLength: config.limits.maxTextLength,
    streamLimits: { maxStreamBytes: config.limits.maxStreamBytes, maxOpenStreams: config.limits.maxOpenStreams, streamIdleMs: config.limits.streamIdleMs },
    onMirroredCommit: () => bridge?.notify(),
    onSequenced: (msgs) => emit('message.sequenced', msgs),
    fanout,
    refuseWrites: () => (backends.writable() ? null : backends.unavailable()),
    intake: intakeLimits(config.limits.maxFrameBytes),
    maxReceiptsPerUser: config.limits.maxReceiptsPerUser,
    meters: new ThreadMeters(config.limits, undefined, sharedBudget),
    backlogOffload,
  });
  const auth = new Auth({ secret: config.jwtSecret, jwks: config.jwks });
  const { authenticate, isMember } = opts;
  const ctx: RelayContext = {
    config,
    store,
    registry,
    auth,
    log,
    metrics: new RelayMetrics(),
    bridge: null,
    ingest: null,
    userEvents: new UserEvents(fanout),
    // Several instances share tickets through Redis (a client's ticket request and its socket
    // may reach different ones); one relay keeps them in memory.
    // ioredis is loaded only when Redis is configured (~9 MiB of a relay's RSS otherwise, issue 29).
    tickets: config.redisUrl && config.ticketTtlMs > 0
      ? await new (await import('./http/redis-tickets.ts')).RedisTickets(config.redisUrl, config.redisPrefix, config.ticketTtlMs, log).open()
      : new TicketStore(config.ticketTtlMs),
    fanout,
    backends,
    authenticate: authenticate ? async (request, token) => (await authenticate({ request, token })) ?? null : (_r, token) => auth.verify(token),
    isMember: isMember ? async (thread, userId) => !!(await isMember({ thread, userId })) : async (thread, userId) => thread.participants.includes(userId),
  };

  let localPds: LocalPds | null = null;
  const onSettled = (msgs: StoredMessage[]) => {
    emit('message.confirmed', msgs.filter((m) => m.state === 'confirmed'));
    emit('message.failed', msgs.filter((m) => m.state === 'failed'));
  };
  if (config.atproto.service === 'local') {
    // The embedded PDS takes 10-30 s to start on a small machine (issue 31): the relay serves
    // meanwhile and the bridge (and ingest, which resolves DIDs through its PLC) come up in
    // the background. Messages of mirrored threads are queued in the outbox by their commit
    // either way, and go out once the bridge has logged in.
    const began = Date.now();
    ctx.bridgeStarting = (async () => {
      try {
        ({ bridge, localPds } = await startBridge(ctx, onSettled, () => !!ctx.draining));
        ctx.bridge = bridge;
        if (bridge) log.info({ event: 'bridge_started', ms: Date.now() - began }, `AT write bridge started ${Date.now() - began} ms after the relay (logging in to the local PDS)`);
      } catch (err) {
        ctx.bridgeFailed = true;
        log.error({ event: 'local_pds_failed', err: errorText(err) }, 'the embedded AT PDS failed to start: the relay serves with the AT bridge off');
      }
      try {
        if (!ctx.draining) ctx.ingest = await startIngest(ctx, localPds);
      } catch (err) {
        log.error({ event: 'ingest_start_failed', err: errorText(err) }, 'AT ingest failed to start: the relay serves without it');
      }
      ctx.bridgeStarting = null;
      return bridge;
    })();
  } else {
    try {
      ({ bridge, localPds } = await startBridge(ctx, onSettled, () => false));
    } catch (err) {
      backends.stop();
      await registry.closeAll();
      await fanout.close();
      sharedBudget?.close();
      if (ownStore) await store.close();
      throw err;
    }
    ctx.bridge = bridge;
    try {
      ctx.ingest = await startIngest(ctx, localPds);
    } catch (err) {
      // A PostgreSQL pool left open would keep an embedder's process alive.
      backends.stop();
      await bridge?.stop();
      await registry.closeAll();
      sharedBudget?.close();
      if (ownStore) await store.close();
      await localPds?.close();
      throw err;
    }
  }
  const { app, injectWebSocket: inject, wss } = createApp(ctx);

  return {
    app,
    ctx,
    injectWebSocket(server) {
      // Only the relay's own upgrade paths, with the mount prefix stripped: other upgrade
      // listeners on the same server keep theirs.
      const relayOnly = new EventEmitter();
      inject(relayOnly as unknown as HttpServer);
      server.on('upgrade', (req: { url?: string }, socket: unknown, head: unknown) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const m = WS_PATH.exec(url.pathname);
        if (!m) return;
        req.url = m[2]! + url.search;
        relayOnly.emit('upgrade', req, socket, head);
      });
    },
    async close({ drained } = {}) {
      ctx.draining = true;
      // A WebSocket whose (async) upgrade completes during shutdown is not in wss.clients
      // yet: close late arrivals too.
      wss.on('connection', (ws) => ws.close(CloseCode.GOING_AWAY, 'relay shutting down'));
      ctx.userEvents.closeAll(CloseCode.GOING_AWAY, 'relay shutting down');
      ctx.tickets.close();
      for (const ws of wss.clients) ws.close(CloseCode.GOING_AWAY, 'relay shutting down');
      const force = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
      }, 3000);
      while (wss.clients.size > 0) await new Promise((r) => setTimeout(r, 20));
      clearTimeout(force);
      await drained;
      // A PDS still starting is waited for (it cannot be interrupted); startBridge sees
      // `draining` and closes it instead of starting the bridge.
      await ctx.bridgeStarting;
      await ctx.ingest?.stop();
      await bridge?.stop();
      await registry.closeAll();
      await backlogOffload.close();
      sharedBudget?.close();
      backends.stop();
      await fanout.close();
      if (ownStore) await store.close();
      await localPds?.close();
    },
  };
}

/** An error for a log line: its name and message (never a whole object, which may hold settings). */
function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 500) : String(err).slice(0, 500);
}

/** The relay's own store: PostgreSQL when a database URL is configured, else SQLite in the data dir. */
async function openStore(config: RelayConfig): Promise<Store> {
  if (config.databaseUrl) {
    // Loaded only when configured: a SQLite relay never loads the PostgreSQL client.
    const { PostgresStore } = await import('./store/postgres-store.ts');
    return PostgresStore.open({ connectionString: config.databaseUrl, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) });
  }
  return new SqliteStore(join(config.dataDir, 'skein.sqlite'), {
    synchronous: config.sqliteSync,
    commitWindowMs: config.commitWindowMs,
    testSyncGate: config.testSyncGate,
  });
}

/** Fan-out to other instances: Redis when configured, else in-process (this instance alone). */
async function openFanout(config: RelayConfig, log: Logger): Promise<Fanout> {
  if (!config.redisUrl) return new InProcessFanout();
  const { RedisFanout } = await import('./fanout/redis-fanout.ts');
  const fanout = await RedisFanout.open({ url: config.redisUrl, prefix: config.redisPrefix, log });
  log.info({ event: 'fanout_redis', instanceId: fanout.instanceId }, 'fan-out through Redis');
  return fanout;
}

/**
 * Starts AT ingest: a consumer per enabled federation source, and the pass that applies
 * records a crash left pending. In `local` AT mode the local PLC resolves DIDs by default.
 */
async function startIngest(ctx: RelayContext, localPds: LocalPds | null): Promise<IngestService> {
  const { config, store, registry, log, metrics } = ctx;
  const ingestConfig = localPds && !config.ingest.plcUrlSet ? { ...config.ingest, plcUrl: localPds.plcUrl } : config.ingest;
  const service = new IngestService({
    store,
    registry,
    config: ingestConfig,
    ownDid: () => ctx.bridge?.status().did ?? null,
    maxTextLength: config.limits.maxTextLength,
    log,
    metrics,
  });
  await service.start();
  return service;
}

/** Starts the AT write bridge (and the in-process PDS in `local` mode) when configured. */
async function startBridge(
  ctx: RelayContext,
  onSettled: (msgs: StoredMessage[]) => void,
  closing: () => boolean,
): Promise<{ bridge: BridgeOutbox | null; localPds: LocalPds | null }> {
  const { config, store, registry, log, metrics } = ctx;
  const at = config.atproto;
  if (at.service === 'off') return { bridge: null, localPds: null };
  // Loaded only when the bridge is on: @atproto/api alone takes seconds to import.
  const [{ AgentRepoClient }, { BridgeOutbox }, { startLocalPds }] = await Promise.all([
    import('./at/at-client.ts'),
    import('./at/bridge/outbox.ts'),
    import('./at/local-pds.ts'),
  ]);
  let service = at.service;
  let identifier = at.identifier;
  let password = at.password;
  let localPds: LocalPds | null = null;
  if (at.service === 'local') {
    localPds = await startLocalPds(at.localPort, config.dataDir, config.ingest.plcUrlSet ? config.ingest.plcUrl : null, at.localHost);
    if (closing()) {
      await localPds.close();
      return { bridge: null, localPds: null };
    }
    ({ url: service, did: identifier, password } = localPds);
    log.info({ event: 'local_pds_started', pdsUrl: service, did: localPds.did, handle: localPds.handle, plcUrl: localPds.plcUrl }, `local PDS at ${service} (PLC ${localPds.plcUrl})`);
  }
  const client = new AgentRepoClient({
    service,
    identifier,
    password,
    // The local PDS logs in afresh at each start (its password is in local-pds/state.json).
    sessionFile: localPds ? null : join(config.dataDir, 'atproto-session.json'),
  });
  const bridge = new BridgeOutbox({ store, registry, client, log, metrics, opts: at, onSettled });
  bridge.start();
  return { bridge, localPds };
}
