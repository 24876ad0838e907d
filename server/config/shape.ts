/**
 * The shape of the relay's configuration, as loadConfig returns it (the environment
 * variables and their defaults are in config.ts and its readers).
 */

export interface Limits {
  /** Largest WebSocket frame accepted, bytes. */
  maxFrameBytes: number;
  /**
   * Largest first sync step 2 of a connection (a client's offline backlog), bytes. Stock
   * y-websocket sends the whole backlog in one frame; refusing it would lock that client
   * out for good, so it may be larger than any live frame.
   */
  maxBacklogBytes: number;
  /**
   * Largest part of an offline backlog the relay decodes on its event loop, bytes. A larger
   * backlog is cut in a worker thread to a part of at most this size (and at most the user's
   * backlog budget); the connection is then closed 4529 with `retry_after_ms` and the next
   * sync step 2 carries the rest.
   */
  backlogPartBytes: number;
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
  /** Open `/v1/events` sockets per user (a tab holds one); more close 4530 (retry later). */
  eventSocketsPerUser: number;
  /** Least wait a client over the connection cap is told (close 4530, `retry_after_ms`), ms. */
  connectionRetryAfterMs: number;
  /** Largest awareness update, bytes. */
  maxAwarenessBytes: number;
  /** Awareness updates per second per user and thread (burst: twice as many). */
  awarenessPerSecond: number;
  /** Outgoing bytes queued for one peer above which it is dropped as too slow. */
  maxBufferedBytes: number;
  /** HTTP writes (create, archive, reopen, retry…) per minute per user (token bucket refill). */
  httpWritesPerMinute: number;
  /** HTTP writes a user may make at once before the per-minute rate applies. */
  httpWriteBurst: number;
  /**
   * HTTP writes to one thread (`/v1/threads/:id/…`) per minute per user and thread, on top of
   * the per-user rate (burst: half of it, at least one).
   */
  threadWritesPerMinute: number;
  /** Largest HTTP request body, bytes, on every route but thread creation (over: 413, connection closed). */
  maxBodyBytes: number;
  /** Largest body of `POST /v1/threads` (a participant list of 1000 long ids), bytes. */
  maxThreadBodyBytes: number;
  /** Largest streamed reply, UTF-8 bytes (over: close 4413). */
  maxStreamBytes: number;
  /** Streams a user may have open in one thread (over: close 4402). */
  maxOpenStreams: number;
  /** A stream not written for this long is interrupted by the relay, ms. */
  streamIdleMs: number;
  /**
   * Receipts one user keeps in a thread's live document; past it the relay removes those of
   * the oldest messages. One update adding more new ones than this closes with 4402.
   */
  maxReceiptsPerUser: number;
  /**
   * Messages of offline backlogs (a connection's first sync step 2) one user may have taken
   * into one thread at once, across reconnects (token bucket per user and thread). A larger
   * backlog is taken in part; the connection is then closed 4529 with `retry_after_ms`.
   */
  backlogBudget: number;
  /** Refill of the backlog budget, messages per second. */
  backlogPerSecond: number;
  /** Bytes of awareness updates per second per user and thread (burst: twice as many). */
  awarenessBytesPerSecond: number;
  /** Least time between two generation rolls of one thread, ms (a roll due sooner waits). */
  rollMinIntervalMs: number;
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
  /** Interface the in-process PDS and its PLC listen on in `local` mode (default 127.0.0.1). */
  localHost: string;
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
  /** And only once the rows since the last snapshot hold this percentage of its bytes (0: rows alone). */
  compactGrowthPercent: number;
  /** Sequenced messages after which a thread's live document rolls into a new generation (0: never). */
  generationMessages: number;
  /** Interval between WebSocket pings; a peer missing one pong is dropped. */
  pingIntervalMs: number;
  /** How long a WebSocket ticket (`POST /v1/tickets`) stays valid, ms; 0 turns tickets off (the route answers 404). */
  ticketTtlMs: number;
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
  /**
   * SQLite durability: FULL makes each commit durable (an fdatasync of the WAL off the event
   * loop) before it is acknowledged; NORMAL survives process but not OS crashes.
   */
  sqliteSync: 'FULL' | 'NORMAL';
  /** Test hook (SKEIN_TEST_SYNC_GATE): while this file exists, the SQLite store starts no fdatasync. */
  testSyncGate?: string;
  /** How long a group commit waits for more work before its transaction, ms (0: the same turn). */
  commitWindowMs: number;
  /** Directory served at `/` (the built web app / SDK test page); skipped when absent. */
  staticDir: string;
  limits: Limits;
  atproto: AtprotoConfig;
  ingest: IngestConfig;
}
