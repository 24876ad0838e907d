/**
 * PostgreSQL schema of the relay (store and ingest tables) as numbered migrations, and the
 * pool every PostgreSQL adapter uses. Migrations run at open, each in the transaction that
 * records its version in `schema_migrations`; a transaction-scoped advisory lock makes
 * relay processes that start at the same moment apply them one after the other.
 *
 * Column semantics follow the SQLite store: ms timestamps and counters are `bigint`
 * (parsed to number), update blobs `bytea`, JSON columns `json` (the text is kept as written).
 */
import pg from 'pg';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database`. Never logged (it may hold a password). */
  connectionString: string;
  /** A schema to use (created when missing) instead of the connection's default search path. */
  schema?: string;
  /** Most pooled connections (default 10). */
  maxConnections?: number;
}

/** Migration `i` has version `i + 1`. Append only: an applied migration is never edited. */
const MIGRATIONS: readonly string[] = [
  // 1: threads, update log, messages, AT outbox and diagnostics.
  `
CREATE TABLE threads (
  id text PRIMARY KEY,
  title text NOT NULL,
  mirror boolean NOT NULL,
  archived boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  last_sent_at bigint NOT NULL DEFAULT 0,
  at_uri text
);
CREATE UNIQUE INDEX threads_at_uri ON threads(at_uri) WHERE at_uri IS NOT NULL;
-- pos keeps insertion order (SQLite's rowid): participants are listed as they were added.
CREATE TABLE members (
  thread_id text NOT NULL REFERENCES threads(id),
  user_id text NOT NULL,
  pos bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE thread_remotes (
  thread_id text NOT NULL REFERENCES threads(id),
  did text NOT NULL,
  pos bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (thread_id, did)
);
CREATE TABLE updates (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  thread_id text NOT NULL,
  data bytea NOT NULL
);
CREATE INDEX updates_by_thread ON updates(thread_id, id);
CREATE TABLE messages (
  thread_id text NOT NULL,
  seq bigint NOT NULL,
  id text NOT NULL,
  author_id text NOT NULL,
  text text NOT NULL,
  client_sent_at double precision NOT NULL,
  reply_to text,
  sent_at bigint NOT NULL,
  state text NOT NULL,
  at_uri text,
  at_cid text,
  error text,
  PRIMARY KEY (thread_id, seq),
  UNIQUE (thread_id, id)
);
CREATE TABLE at_outbox (
  thread_id text NOT NULL,
  message_id text NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY,
  enqueued_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL DEFAULT 0,
  claimed_until bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (thread_id, message_id)
);
CREATE INDEX at_outbox_due ON at_outbox(next_attempt_at, enqueued_at, id);
CREATE TABLE at_diagnostics (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  thread_id text NOT NULL,
  message_id text NOT NULL,
  code text NOT NULL,
  failure_class text NOT NULL,
  detail text NOT NULL,
  at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX at_diagnostics_by_message ON at_diagnostics(thread_id, message_id);
CREATE INDEX at_diagnostics_expiry ON at_diagnostics(expires_at);
`,
  // 2: AT ingest: federation sources, sync state, the append-only commit log, records.
  `
CREATE TABLE federation_sources (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('PDS', 'AppView', 'Other')),
  name text NOT NULL UNIQUE,
  service_endpoint text NOT NULL,
  is_enabled boolean NOT NULL,
  allow_ingest boolean NOT NULL,
  deny_reason text,
  rate_limit_per_minute integer NOT NULL,
  metadata json NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE TABLE sync_state (
  source_id text NOT NULL REFERENCES federation_sources(id) ON DELETE CASCADE,
  did text,
  status text NOT NULL CHECK (status IN ('active', 'paused', 'failing', 'denied')),
  cursor text,
  last_seq bigint,
  last_success_at bigint,
  last_attempt_at bigint,
  next_attempt_at bigint,
  failure_count integer NOT NULL DEFAULT 0,
  failure_reason text
);
-- NULL is distinct from NULL in a UNIQUE constraint: the source-wide row (did NULL) needs the coalesce.
CREATE UNIQUE INDEX sync_state_key ON sync_state(source_id, (coalesce(did, '')));
CREATE TABLE commit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source_id text NOT NULL,
  did text NOT NULL,
  seq bigint NOT NULL,
  commit_cid text NOT NULL,
  rev text NOT NULL,
  since text,
  operations json NOT NULL,
  received_at bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('applied', 'rejected', 'duplicate', 'out_of_order')),
  reason text
);
CREATE INDEX commit_log_by_repo ON commit_log(source_id, did, seq);
CREATE INDEX commit_log_by_seq ON commit_log(source_id, seq);
CREATE INDEX commit_log_by_time ON commit_log(received_at);
-- The log is append-only in the database itself: rows are never updated, and deleted only
-- below the retention horizon, which moves forward and never past the present.
CREATE TABLE commit_log_horizon (
  id integer PRIMARY KEY CHECK (id = 1),
  prune_before bigint NOT NULL
);
INSERT INTO commit_log_horizon (id, prune_before) VALUES (1, 0);
CREATE FUNCTION commit_log_guard() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'commit_log is append-only'; END IF;
  IF OLD.received_at >= (SELECT prune_before FROM commit_log_horizon WHERE id = 1) THEN
    RAISE EXCEPTION 'commit_log rows are only deleted by retention pruning';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER commit_log_guard BEFORE UPDATE OR DELETE ON commit_log FOR EACH ROW EXECUTE FUNCTION commit_log_guard();
CREATE FUNCTION commit_log_horizon_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'the retention horizon cannot be deleted'; END IF;
  IF NEW.prune_before < OLD.prune_before
     OR NEW.prune_before > (extract(epoch FROM clock_timestamp()) * 1000)::bigint THEN
    RAISE EXCEPTION 'the retention horizon only moves forward, up to now';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER commit_log_horizon_guard BEFORE UPDATE OR DELETE ON commit_log_horizon
  FOR EACH ROW EXECUTE FUNCTION commit_log_horizon_guard();
CREATE TABLE records (
  did text NOT NULL,
  collection text NOT NULL,
  rkey text NOT NULL,
  uri text NOT NULL,
  cid text NOT NULL,
  value json NOT NULL,
  source_id text NOT NULL,
  thread_id text NOT NULL,
  message_id text NOT NULL,
  ingested_at bigint NOT NULL,
  applied_at bigint,
  pos bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (did, collection, rkey)
);
CREATE INDEX records_pending ON records(ingested_at, pos) WHERE applied_at IS NULL;
CREATE INDEX records_by_uri ON records(uri);
`,
  // 3: windowed threads (issue #14): generations and the relational receipts of sealed ones.
  `
ALTER TABLE threads ADD COLUMN generation integer NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN base_seq bigint NOT NULL DEFAULT 0;
CREATE TABLE receipts (
  thread_id text NOT NULL,
  message_id text NOT NULL,
  user_id text NOT NULL,
  read_at double precision NOT NULL,
  PRIMARY KEY (thread_id, message_id, user_id)
);
`,
  // 4: deleted messages (issue 30, design/message-lifecycle.md).
  `
ALTER TABLE messages ADD COLUMN redacted boolean NOT NULL DEFAULT false;
CREATE INDEX messages_at_deletions ON messages(thread_id) WHERE redacted AND at_uri IS NOT NULL;
ALTER TABLE messages ADD COLUMN edited_at double precision;
ALTER TABLE messages ADD COLUMN at_edited_at double precision;
`,
  // 5: roles (issue 30): the thread's owner and which members are moderators.
  `
ALTER TABLE threads ADD COLUMN IF NOT EXISTS owner text;
ALTER TABLE members ADD COLUMN IF NOT EXISTS moderator boolean NOT NULL DEFAULT false;
`,
  // 6: each sealed generation's state vector (issue 30, design/message-lifecycle.md "Offline across a roll").
  `
CREATE TABLE IF NOT EXISTS sealed_states (
  thread_id text NOT NULL,
  generation integer NOT NULL,
  state_vector bytea NOT NULL,
  PRIMARY KEY (thread_id, generation)
);
`,
  // 7: edits and deletions of ingested AT records waiting for their thread (issue 30).
  `
CREATE TABLE record_changes (
  did text NOT NULL,
  collection text NOT NULL,
  rkey text NOT NULL,
  rev text NOT NULL,
  action text NOT NULL CHECK (action IN ('update', 'delete')),
  author_id text NOT NULL,
  value json,
  thread_id text NOT NULL,
  message_id text NOT NULL,
  ingested_at bigint NOT NULL,
  pos bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (did, collection, rkey, rev)
);
CREATE INDEX record_changes_by_message ON record_changes(thread_id, message_id);
`,
  // 8: who was removed from which thread and not added back (erasure visits those threads).
  `
CREATE TABLE IF NOT EXISTS former_members (
  thread_id text NOT NULL,
  user_id text NOT NULL,
  PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX IF NOT EXISTS former_members_by_user ON former_members(user_id);
`,
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** int8 (counts, ms timestamps, seqs) as number: every value the relay stores is below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * Adds a startup option to a connection URL. node-postgres lets the URL's own `options`
 * override the config's, so ours goes into the URL, after any the URL already carries.
 */
function withStartupOption(connectionString: string, option: string): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new Error('PostgreSQL connection string is not a URL; a schema needs a postgres:// URL');
  }
  const existing = url.searchParams.get('options');
  url.searchParams.set('options', existing ? `${existing} ${option}` : option);
  return url.toString();
}

/** A pool whose every connection uses `opts.schema` (when given) as its search path. */
export function createPool(opts: PostgresOptions): pg.Pool {
  const { schema } = opts;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`PostgreSQL schema name must match ${SCHEMA_NAME} (got ${JSON.stringify(schema)})`);
  }
  const pool = new pg.Pool({
    // A startup parameter, so every pooled connection has it before its first query.
    connectionString: schema ? withStartupOption(opts.connectionString, `-c search_path=${schema}`) : opts.connectionString,
    max: opts.maxConnections ?? 10,
    types,
    // An unreachable server fails a query instead of holding it (and the room behind it) forever.
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  });
  // An idle client losing its connection (server restart) must not crash the process; the
  // pool drops it and the next query opens a new one.
  pool.on('error', () => {});
  return pool;
}

/**
 * Brings the schema to SCHEMA_VERSION. Idempotent; safe when several processes run it at
 * once (they queue on an advisory lock). Refuses a database migrated by a newer version.
 */
export async function migrate(pool: pg.Pool, schema?: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`skein-migrate:${schema ?? ''}`]);
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(`database schema version ${current} is newer than this relay's (${SCHEMA_VERSION})`);
    }
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      await client.query(MIGRATIONS[v - 1]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v]);
    }
  });
}

/**
 * Runs `work` in one transaction on one pooled connection. A connection whose ROLLBACK
 * fails is broken and is destroyed instead of going back to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    client.release();
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (rollbackErr) {
      client.release(rollbackErr as Error);
    }
    throw err;
  }
}
