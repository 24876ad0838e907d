/**
 * Relay configuration from environment variables. Every variable is listed here with
 * its default; a bad value stops the relay with a message naming the variable.
 * The config's shape, the typed readers and the readers of each area are in server/config/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atproto, ingest } from './atproto.ts';
import { jwks, jwtSecret } from './auth.ts';
import { databaseSchema, databaseUrl, redisUrl } from './database.ts';
import { type Env, bool, collectProblems, int, oneOf } from './env.ts';
import type { RelayConfig } from './shape.ts';

export { ConfigError, type ConfigProblem } from './env.ts';
export type { AtprotoConfig, IngestConfig, JwksConfig, Limits, RelayConfig } from './shape.ts';

/**
 * Reads the configuration; throws one ConfigError listing every bad variable.
 * `requireAuth: false` (an embedder that authenticates itself) lets the token secret be absent.
 */
export function loadConfig(env: Env = process.env, opts: { requireAuth?: boolean } = {}): RelayConfig {
  return collectProblems(() => readConfig(env, opts.requireAuth ?? true));
}

function readConfig(env: Env, requireAuth: boolean): RelayConfig {
  const dataDir = resolve(env.SKEIN_DATA_DIR || './data');
  mkdirSync(dataDir, { recursive: true });
  const devAuth = bool(env, 'SKEIN_DEV_AUTH', false);
  const jwksConfig = jwks(env);
  const dbUrl = databaseUrl(env);
  return {
    port: int(env, 'PORT', 8787, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir,
    devAuth,
    demoBot: bool(env, 'SKEIN_DEMO_BOT', false),
    jwks: jwksConfig,
    jwtSecret: jwtSecret(env, dataDir, devAuth, !!jwksConfig || !requireAuth),
    idleUnloadMs: int(env, 'SKEIN_IDLE_UNLOAD_MS', 30_000, 0, 86_400_000),
    compactAfterUpdates: int(env, 'SKEIN_COMPACT_AFTER_UPDATES', 500, 2, 1_000_000),
    compactGrowthPercent: int(env, 'SKEIN_COMPACT_GROWTH_PERCENT', 50, 0, 10_000),
    generationMessages: int(env, 'SKEIN_GENERATION_MESSAGES', 1000, 0, 1_000_000),
    pingIntervalMs: int(env, 'SKEIN_PING_INTERVAL_MS', 30_000, 100, 3_600_000),
    ticketTtlMs: int(env, 'SKEIN_TICKET_TTL_MS', 30_000, 0, 600_000),
    logLevel: env.SKEIN_LOG_LEVEL || 'info',
    databaseUrl: dbUrl,
    databaseSchema: databaseSchema(env, !!dbUrl),
    redisUrl: redisUrl(env, !!dbUrl),
    redisPrefix: env.SKEIN_REDIS_PREFIX?.trim() || 'skein:',
    sqliteSync: oneOf(env, 'SKEIN_SQLITE_SYNC', ['FULL', 'NORMAL'] as const, 'FULL'),
    commitWindowMs: int(env, 'SKEIN_COMMIT_WINDOW_MS', 0, 0, 100),
    ...(env.SKEIN_TEST_SYNC_GATE ? { testSyncGate: env.SKEIN_TEST_SYNC_GATE } : {}),
    staticDir: env.SKEIN_STATIC_DIR ? resolve(env.SKEIN_STATIC_DIR) : join(packageRoot(), 'client', 'dist'),
    limits: {
      maxFrameBytes: int(env, 'SKEIN_MAX_FRAME_BYTES', 1_048_576, 1024, 64 * 1_048_576),
      maxBacklogBytes: int(env, 'SKEIN_MAX_BACKLOG_BYTES', 16 * 1_048_576, 1024, 256 * 1_048_576),
      backlogPartBytes: int(env, 'SKEIN_BACKLOG_PART_BYTES', 256 * 1024, 1024, 256 * 1_048_576),
      maxTextLength: int(env, 'SKEIN_MAX_TEXT_LENGTH', 10_000, 1, 1_000_000),
      messagesPerSecond: int(env, 'SKEIN_MAX_MESSAGES_PER_SECOND', 20, 1, 1_000_000),
      messageBurst: int(env, 'SKEIN_MESSAGE_BURST', 100, 1, 1_000_000),
      updatesPerSecond: int(env, 'SKEIN_MAX_UPDATES_PER_SECOND', 100, 1, 1_000_000),
      connectionsPerUser: int(env, 'SKEIN_MAX_CONNECTIONS_PER_USER', 64, 1, 100_000),
      eventSocketsPerUser: int(env, 'SKEIN_MAX_EVENT_SOCKETS_PER_USER', 32, 1, 100_000),
      connectionRetryAfterMs: int(env, 'SKEIN_CONNECTION_RETRY_AFTER_MS', 10_000, 0, 3_600_000),
      maxAwarenessBytes: int(env, 'SKEIN_MAX_AWARENESS_BYTES', 4096, 64, 1_048_576),
      awarenessPerSecond: int(env, 'SKEIN_MAX_AWARENESS_PER_SECOND', 10, 1, 100_000),
      maxBufferedBytes: int(env, 'SKEIN_MAX_BUFFERED_BYTES', 8 * 1_048_576, 16_384, 1_073_741_824),
      httpWritesPerMinute: int(env, 'SKEIN_MAX_HTTP_WRITES_PER_MINUTE', 60, 1, 10_000_000),
      httpWriteBurst: int(env, 'SKEIN_HTTP_WRITE_BURST', 30, 1, 10_000_000),
      threadWritesPerMinute: int(env, 'SKEIN_MAX_THREAD_WRITES_PER_MINUTE', 20, 1, 10_000_000),
      maxBodyBytes: int(env, 'SKEIN_MAX_BODY_BYTES', 256 * 1024, 1024, 1_073_741_824),
      // Thread creation takes up to 1000 participants of up to 256 characters (up to 4 UTF-8
      // bytes each): about 1 MB is an honest body there, so the route gets its own limit.
      maxThreadBodyBytes: int(env, 'SKEIN_MAX_THREAD_BODY_BYTES', 1_048_576, 1024, 1_073_741_824),
      maxStreamBytes: int(env, 'SKEIN_MAX_STREAM_BYTES', 10_000, 1, 1_000_000),
      maxOpenStreams: int(env, 'SKEIN_MAX_OPEN_STREAMS', 4, 1, 1000),
      streamIdleMs: int(env, 'SKEIN_STREAM_IDLE_MS', 30_000, 100, 3_600_000),
      maxReceiptsPerUser: int(env, 'SKEIN_MAX_RECEIPTS_PER_USER', 2000, 10, 10_000_000),
      backlogBudget: int(env, 'SKEIN_BACKLOG_BUDGET', 1000, 1, 10_000_000),
      backlogPerSecond: int(env, 'SKEIN_BACKLOG_MESSAGES_PER_SECOND', 5, 1, 1_000_000),
      awarenessBytesPerSecond: int(env, 'SKEIN_AWARENESS_BYTES_PER_SECOND', 16_384, 64, 1_073_741_824),
      rollMinIntervalMs: int(env, 'SKEIN_ROLL_MIN_INTERVAL_MS', 1000, 0, 86_400_000),
    },
    atproto: atproto(env),
    ingest: ingest(env),
  };
}

/**
 * The directory of Skein's package.json: the app's build is found relative to it, the same
 * from the sources (server/) and from the compiled package (dist/server/), whatever the cwd.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
