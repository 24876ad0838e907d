/**
 * Relay configuration from environment variables. Every variable is listed here with
 * its default; a bad value stops the relay with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Limits {
  /** Largest WebSocket frame accepted, bytes. */
  maxFrameBytes: number;
  /**
   * Largest first sync step 2 of a connection (a client's offline backlog), bytes. Stock
   * y-websocket sends the whole backlog in one frame; refusing it would lock that client
   * out for good, so it may be larger than any live frame.
   */
  maxBacklogBytes: number;
  /** Longest message text, characters. */
  maxTextLength: number;
  /** New messages per second per connection (token bucket refill rate). */
  messagesPerSecond: number;
  /** Messages a connection may send at once before the per-second rate applies. */
  messageBurst: number;
  /** Update frames per second per connection (burst: twice as many). */
  updatesPerSecond: number;
  /** Open sync connections per user, across all threads. */
  connectionsPerUser: number;
  /** Largest awareness update, bytes. */
  maxAwarenessBytes: number;
  /** Awareness updates per second per connection (burst: twice as many). */
  awarenessPerSecond: number;
  /** Outgoing bytes queued for one peer above which it is dropped as too slow. */
  maxBufferedBytes: number;
  /** HTTP writes (create, archive, reopen, retry…) per minute per user (token bucket refill). */
  httpWritesPerMinute: number;
  /** HTTP writes a user may make at once before the per-minute rate applies. */
  httpWriteBurst: number;
  /** Largest streamed reply, UTF-8 bytes (over: close 4413). */
  maxStreamBytes: number;
  /** Streams a user may have open in one thread (over: close 4402). */
  maxOpenStreams: number;
  /** A stream not written for this long is interrupted by the relay, ms. */
  streamIdleMs: number;
}

/** The AT Protocol write bridge (DESIGN.md "AT Protocol"). */
export interface AtprotoConfig {
  /** `off`, `local` (in-process reference PDS from @atproto/dev-env), or a PDS URL. */
  service: 'off' | 'local' | string;
  /** Handle or DID of the relay's account (URL mode). */
  identifier: string;
  /** App password (URL mode). Never logged or returned by any API. */
  password: string;
  /** Port of the in-process PDS in `local` mode; 0 picks a free one. */
  localPort: number;
  /** Whether new threads mirror to AT unless the creator says otherwise. */
  mirrorDefault: boolean;
  /** Most writes per applyWrites call (the PDS allows 200). */
  batchMaxWrites: number;
  /** Largest applyWrites request body, bytes (the PDS refuses big JSON bodies with 413). */
  batchMaxBytes: number;
  /** Rate-limit points the PDS charges per created record. */
  writeCost: number;
  /** First retry delay after a transient failure, ms (doubles per attempt, with jitter). */
  backoffBaseMs: number;
  /** Longest retry delay, ms. */
  backoffMaxMs: number;
  /** Oldest pending mirror older than this marks the bridge degraded, ms. */
  lagThresholdMs: number;
  /** This many consecutive failed calls mark the bridge degraded. */
  failingAfter: number;
  /** How long failure diagnostics are kept, ms. */
  diagnosticsTtlMs: number;
  /** How long a claimed outbox row stays reserved for one worker, ms. */
  claimLeaseMs: number;
  /** Test hook: SIGKILL the relay right after a successful applyWrites (SKEIN_TEST_CRASH_AFTER_AT_WRITE=1). */
  testCrashAfterAtWrite: boolean;
}

/** AT ingest (DESIGN.md "AT Protocol" → Ingest) and its admin API. */
export interface IngestConfig {
  /** Bearer token of `/v1/admin/*`; the admin routes do not exist when null. Never logged. */
  adminToken: string | null;
  /** JSON file of federation sources declared at start (upserted by name), or null. */
  sourcesFile: string | null;
  /** PLC directory that resolves `did:plc` identities (commit signatures). */
  plcUrl: string;
  /** Whether SKEIN_PLC_URL was given (in `local` AT mode the local PLC is the default). */
  plcUrlSet: boolean;
  /** Commit-log rows older than this are pruned, days. */
  commitLogRetentionDays: number;
  /** First reconnect delay after a source failed, ms (doubles per failure). */
  backoffBaseMs: number;
  /** Longest reconnect delay, ms. */
  backoffMaxMs: number;
  /** A source whose newest applied event is older than this (event time → applied) is lagging, ms. */
  lagThresholdMs: number;
}

export interface JwksConfig {
  url: string;
  issuer?: string;
  audience?: string;
  cooldownMs: number;
  cacheMaxAgeMs: number;
}

export interface RelayConfig {
  port: number;
  host: string;
  dataDir: string;
  /** HS256 shared secret; null when only JWKS-verified tokens are accepted. */
  jwtSecret: Uint8Array | null;
  /** An identity provider's key set (SKEIN_JWT_JWKS_URL), or null. */
  jwks: JwksConfig | null;
  devAuth: boolean;
  /** Run the demo bot member `skein-bot` (streamed replies; needs the shared secret). */
  demoBot: boolean;
  /** How long a document with no connections stays loaded, ms. */
  idleUnloadMs: number;
  /** Number of update-log rows per thread that triggers compaction. */
  compactAfterUpdates: number;
  /** Sequenced messages after which a thread's live document rolls into a new generation (0: never). */
  generationMessages: number;
  /** Interval between WebSocket pings; a peer missing one pong is dropped. */
  pingIntervalMs: number;
  logLevel: string;
  /**
   * PostgreSQL connection string (SKEIN_DATABASE_URL): the relay stores in PostgreSQL instead
   * of SQLite, and several relay processes may share it. Null: SQLite in `dataDir`. Never logged.
   */
  databaseUrl: string | null;
  /**
   * Redis URL (SKEIN_REDIS_URL): fan-out between relay instances sharing one PostgreSQL
   * database. Null: this instance alone. Never logged (it may hold a password).
   */
  redisUrl: string | null;
  /** Channel prefix on Redis (SKEIN_REDIS_PREFIX, default `skein:`): instances serving each other share it. */
  redisPrefix: string;
  /** PostgreSQL schema for the relay's tables (SKEIN_DATABASE_SCHEMA), created when missing; null: the default search path. */
  databaseSchema: string | null;
  /** SQLite `synchronous`: FULL fsyncs each commit, NORMAL survives process but not OS crashes. */
  sqliteSync: 'FULL' | 'NORMAL';
  /** How long a group commit waits for more work before its transaction, ms (0: the same turn). */
  commitWindowMs: number;
  /** Directory served at `/` (the built web app / SDK test page); skipped when absent. */
  staticDir: string;
  limits: Limits;
  atproto: AtprotoConfig;
  ingest: IngestConfig;
}

export interface ConfigProblem {
  variable: string;
  problem: string;
}

/** One or more bad settings; `problems` lists every one, `message` has one line each. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(variable: string | ConfigProblem[], problem = '') {
    const problems = typeof variable === 'string' ? [{ variable, problem }] : variable;
    super(problems.map((p) => `${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

/**
 * Problems found so far by the loadConfig call in progress (it is synchronous): each reader
 * records a bad value and carries on with the default, so that one run lists them all.
 */
let problems: ConfigProblem[] | null = null;

function bad<T>(variable: string, problem: string, fallback: T): T {
  if (!problems) throw new ConfigError(variable, problem);
  if (!problems.some((p) => p.variable === variable)) problems.push({ variable, problem });
  return fallback;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    return bad(name, `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`, def);
  }
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  return bad(name, `expected 1/0/true/false, got ${JSON.stringify(raw)}`, def);
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = values.find((x) => x.toLowerCase() === raw.toLowerCase());
  if (!v) return bad(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`, def);
  return v;
}

/**
 * In dev mode without SKEIN_JWT_SECRET, a random secret is kept in the data dir so that
 * tokens survive restarts. Outside dev mode the secret must be given.
 */
function jwtSecret(env: Env, dataDir: string, devAuth: boolean, jwks: boolean): Uint8Array | null {
  const raw = env.SKEIN_JWT_SECRET;
  if (raw) {
    if (raw.length < 32) return bad('SKEIN_JWT_SECRET', 'must be at least 32 characters', null);
    return new TextEncoder().encode(raw);
  }
  if (!devAuth) {
    if (jwks) return null;
    return bad('SKEIN_JWT_SECRET', 'required unless SKEIN_JWT_JWKS_URL is set or SKEIN_DEV_AUTH=1', null);
  }
  const file = join(dataDir, 'dev-jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}

function jwks(env: Env): JwksConfig | null {
  const raw = env.SKEIN_JWT_JWKS_URL?.trim();
  if (!raw) {
    for (const v of ['SKEIN_JWT_ISSUER', 'SKEIN_JWT_AUDIENCE']) {
      if (env[v]) bad(v, 'only applies with SKEIN_JWT_JWKS_URL', null);
    }
    return null;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_JWT_JWKS_URL', `expected an http(s) URL, got ${JSON.stringify(raw)}`, null);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return bad('SKEIN_JWT_JWKS_URL', 'must be an http or https URL', null);
  return {
    url: url.href,
    ...(env.SKEIN_JWT_ISSUER ? { issuer: env.SKEIN_JWT_ISSUER } : {}),
    ...(env.SKEIN_JWT_AUDIENCE ? { audience: env.SKEIN_JWT_AUDIENCE } : {}),
    cooldownMs: int(env, 'SKEIN_JWT_JWKS_COOLDOWN_MS', 30_000, 0, 86_400_000),
    cacheMaxAgeMs: int(env, 'SKEIN_JWT_JWKS_CACHE_MS', 600_000, 1000, 86_400_000),
  };
}

/** SKEIN_DATABASE_URL: a postgres:// URL or unset. The value is never echoed (it may hold a password). */
function databaseUrl(env: Env): string | null {
  const raw = env.SKEIN_DATABASE_URL?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_DATABASE_URL', 'expected a postgres://user:password@host:port/database URL (value not shown)', null);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return bad('SKEIN_DATABASE_URL', `expected a postgres:// or postgresql:// URL, got scheme ${JSON.stringify(url.protocol.slice(0, 20))}`, null);
  }
  return raw;
}

/** SKEIN_REDIS_URL: a redis:// or rediss:// URL, or unset. The value is never echoed. */
function redisUrl(env: Env, hasDatabase: boolean): string | null {
  const raw = env.SKEIN_REDIS_URL?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('SKEIN_REDIS_URL', 'expected a redis://[:password@]host:port URL (value not shown)', null);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return bad('SKEIN_REDIS_URL', `expected a redis:// or rediss:// URL, got scheme ${JSON.stringify(url.protocol.slice(0, 20))}`, null);
  }
  // Instances on separate SQLite files do not share a log: fan-out between them would be wrong.
  if (!hasDatabase) return bad('SKEIN_REDIS_URL', 'needs SKEIN_DATABASE_URL (instances share one PostgreSQL database)', null);
  return raw;
}

function databaseSchema(env: Env, hasUrl: boolean): string | null {
  const raw = env.SKEIN_DATABASE_SCHEMA?.trim();
  if (!raw) return null;
  if (!hasUrl) return bad('SKEIN_DATABASE_SCHEMA', 'only applies with SKEIN_DATABASE_URL', null);
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) {
    return bad('SKEIN_DATABASE_SCHEMA', `expected a lower-case identifier (a-z, 0-9, _), got ${JSON.stringify(raw)}`, null);
  }
  return raw;
}

function ingest(env: Env): IngestConfig {
  const adminToken = env.SKEIN_ADMIN_TOKEN ?? '';
  if (adminToken && adminToken.length < 24) bad('SKEIN_ADMIN_TOKEN', 'must be at least 24 characters', null);
  const sourcesFile = env.SKEIN_FEDERATION_SOURCES_FILE?.trim() || null;
  if (sourcesFile && !existsSync(sourcesFile)) bad('SKEIN_FEDERATION_SOURCES_FILE', `no such file: ${sourcesFile}`, null);
  const plcUrl = (env.SKEIN_PLC_URL || 'https://plc.directory').trim().replace(/\/+$/, '');
  try {
    const u = new URL(plcUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') bad('SKEIN_PLC_URL', 'must be an http or https URL', null);
  } catch {
    bad('SKEIN_PLC_URL', `expected an http(s) URL, got ${JSON.stringify(plcUrl)}`, null);
  }
  return {
    adminToken: adminToken || null,
    sourcesFile: sourcesFile ? resolve(sourcesFile) : null,
    plcUrl,
    plcUrlSet: !!env.SKEIN_PLC_URL,
    commitLogRetentionDays: int(env, 'SKEIN_COMMIT_LOG_RETENTION_DAYS', 30, 1, 36_500),
    backoffBaseMs: int(env, 'SKEIN_INGEST_BACKOFF_BASE_MS', 1000, 1, 3_600_000),
    backoffMaxMs: int(env, 'SKEIN_INGEST_BACKOFF_MAX_MS', 60_000, 1, 86_400_000),
    lagThresholdMs: int(env, 'SKEIN_INGEST_LAG_THRESHOLD_MS', 30_000, 1, 86_400_000),
  };
}

function atproto(env: Env): AtprotoConfig {
  const service = (env.SKEIN_ATPROTO_SERVICE || 'off').trim();
  if (service !== 'off' && service !== 'local') {
    let url: URL | null = null;
    try {
      url = new URL(service);
    } catch {
      bad('SKEIN_ATPROTO_SERVICE', `expected off, local or an http(s) URL, got ${JSON.stringify(service)}`, null);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      bad('SKEIN_ATPROTO_SERVICE', 'the PDS URL must be http or https', null);
    }
    if (!env.SKEIN_ATPROTO_IDENTIFIER) bad('SKEIN_ATPROTO_IDENTIFIER', 'required when SKEIN_ATPROTO_SERVICE is a URL', null);
    if (!env.SKEIN_ATPROTO_PASSWORD) bad('SKEIN_ATPROTO_PASSWORD', 'required when SKEIN_ATPROTO_SERVICE is a URL', null);
  }
  const on = service !== 'off';
  // AT repositories are public: publishing is an explicit choice per thread unless the
  // operator opts the whole relay in.
  const mirrorDefault = bool(env, 'SKEIN_MIRROR_DEFAULT', false);
  if (mirrorDefault && !on) bad('SKEIN_MIRROR_DEFAULT', 'cannot be on while SKEIN_ATPROTO_SERVICE=off', null);
  return {
    service: service.replace(/\/+$/, ''),
    identifier: env.SKEIN_ATPROTO_IDENTIFIER ?? '',
    password: env.SKEIN_ATPROTO_PASSWORD ?? '',
    localPort: int(env, 'SKEIN_ATPROTO_LOCAL_PORT', 0, 0, 65535),
    mirrorDefault,
    batchMaxWrites: int(env, 'SKEIN_BRIDGE_BATCH_MAX_WRITES', 200, 1, 200),
    batchMaxBytes: int(env, 'SKEIN_BRIDGE_BATCH_MAX_BYTES', 100_000, 1024, 10_000_000),
    writeCost: int(env, 'SKEIN_BRIDGE_WRITE_COST', 3, 1, 1000),
    backoffBaseMs: int(env, 'SKEIN_BRIDGE_BACKOFF_BASE_MS', 1000, 1, 3_600_000),
    backoffMaxMs: int(env, 'SKEIN_BRIDGE_BACKOFF_MAX_MS', 60_000, 1, 86_400_000),
    lagThresholdMs: int(env, 'SKEIN_BRIDGE_LAG_THRESHOLD_MS', 30_000, 1, 86_400_000),
    failingAfter: int(env, 'SKEIN_BRIDGE_FAILING_AFTER', 3, 1, 1000),
    diagnosticsTtlMs: int(env, 'SKEIN_BRIDGE_DIAGNOSTICS_TTL_MS', 7 * 86_400_000, 1000, 365 * 86_400_000),
    claimLeaseMs: int(env, 'SKEIN_BRIDGE_CLAIM_LEASE_MS', 120_000, 1000, 86_400_000),
    testCrashAfterAtWrite: env.SKEIN_TEST_CRASH_AFTER_AT_WRITE === '1',
  };
}

/**
 * Reads the configuration; throws one ConfigError listing every bad variable.
 * `requireAuth: false` (an embedder that authenticates itself) lets the token secret be absent.
 */
export function loadConfig(env: Env = process.env, opts: { requireAuth?: boolean } = {}): RelayConfig {
  problems = [];
  try {
    const config = readConfig(env, opts.requireAuth ?? true);
    if (problems.length) throw new ConfigError(problems);
    return config;
  } finally {
    problems = null;
  }
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
    generationMessages: int(env, 'SKEIN_GENERATION_MESSAGES', 1000, 0, 1_000_000),
    pingIntervalMs: int(env, 'SKEIN_PING_INTERVAL_MS', 30_000, 100, 3_600_000),
    logLevel: env.SKEIN_LOG_LEVEL || 'info',
    databaseUrl: dbUrl,
    databaseSchema: databaseSchema(env, !!dbUrl),
    redisUrl: redisUrl(env, !!dbUrl),
    redisPrefix: env.SKEIN_REDIS_PREFIX?.trim() || 'skein:',
    sqliteSync: oneOf(env, 'SKEIN_SQLITE_SYNC', ['FULL', 'NORMAL'] as const, 'FULL'),
    commitWindowMs: int(env, 'SKEIN_COMMIT_WINDOW_MS', 0, 0, 100),
    staticDir: env.SKEIN_STATIC_DIR ? resolve(env.SKEIN_STATIC_DIR) : join(packageRoot(), 'client', 'dist'),
    limits: {
      maxFrameBytes: int(env, 'SKEIN_MAX_FRAME_BYTES', 1_048_576, 1024, 64 * 1_048_576),
      maxBacklogBytes: int(env, 'SKEIN_MAX_BACKLOG_BYTES', 16 * 1_048_576, 1024, 256 * 1_048_576),
      maxTextLength: int(env, 'SKEIN_MAX_TEXT_LENGTH', 10_000, 1, 1_000_000),
      messagesPerSecond: int(env, 'SKEIN_MAX_MESSAGES_PER_SECOND', 20, 1, 1_000_000),
      messageBurst: int(env, 'SKEIN_MESSAGE_BURST', 100, 1, 1_000_000),
      updatesPerSecond: int(env, 'SKEIN_MAX_UPDATES_PER_SECOND', 100, 1, 1_000_000),
      connectionsPerUser: int(env, 'SKEIN_MAX_CONNECTIONS_PER_USER', 64, 1, 100_000),
      maxAwarenessBytes: int(env, 'SKEIN_MAX_AWARENESS_BYTES', 4096, 64, 1_048_576),
      awarenessPerSecond: int(env, 'SKEIN_MAX_AWARENESS_PER_SECOND', 10, 1, 100_000),
      maxBufferedBytes: int(env, 'SKEIN_MAX_BUFFERED_BYTES', 8 * 1_048_576, 16_384, 1_073_741_824),
      httpWritesPerMinute: int(env, 'SKEIN_MAX_HTTP_WRITES_PER_MINUTE', 60, 1, 10_000_000),
      httpWriteBurst: int(env, 'SKEIN_HTTP_WRITE_BURST', 30, 1, 10_000_000),
      maxStreamBytes: int(env, 'SKEIN_MAX_STREAM_BYTES', 10_000, 1, 1_000_000),
      maxOpenStreams: int(env, 'SKEIN_MAX_OPEN_STREAMS', 4, 1, 1000),
      streamIdleMs: int(env, 'SKEIN_STREAM_IDLE_MS', 30_000, 100, 3_600_000),
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
