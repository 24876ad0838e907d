/**
 * The SQLite store's schema: the tables it creates at open, the additive migrations for
 * files written by an earlier version, and the connection settings (WAL, fsync level).
 */
import Database from 'better-sqlite3';

/**
 * The update log. No AUTOINCREMENT: it keeps one more B-tree (`sqlite_sequence`) written by
 * every commit, and ids only order a thread's rows, which max(id)+1 keeps (a compaction
 * deletes a thread's rows and appends its snapshot after every remaining row).
 */
const UPDATES_TABLE = `CREATE TABLE IF NOT EXISTS updates (
  id INTEGER PRIMARY KEY,
  thread_id TEXT NOT NULL,
  data BLOB NOT NULL
);`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS threads (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  mirror INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  -- Not maintained since issue 29 (kept for files written before): the seq cursor is the
  -- thread's last message row (sqlite-thread-state.ts).
  last_seq INTEGER NOT NULL DEFAULT 0,
  last_sent_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS members (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  user_id TEXT NOT NULL,
  PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id);
-- Who was removed from which thread (and not added back): erasure visits those threads too.
CREATE TABLE IF NOT EXISTS former_members (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  user_id TEXT NOT NULL,
  PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX IF NOT EXISTS former_members_by_user ON former_members(user_id);
CREATE TABLE IF NOT EXISTS thread_remotes (
  thread_id TEXT NOT NULL REFERENCES threads(id),
  did TEXT NOT NULL,
  PRIMARY KEY (thread_id, did)
);
${UPDATES_TABLE}
CREATE INDEX IF NOT EXISTS updates_by_thread ON updates(thread_id, id);
CREATE TABLE IF NOT EXISTS messages (
  thread_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  author_id TEXT NOT NULL,
  text TEXT NOT NULL,
  client_sent_at REAL NOT NULL,
  reply_to TEXT,
  sent_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  at_uri TEXT,
  at_cid TEXT,
  error TEXT,
  PRIMARY KEY (thread_id, seq),
  UNIQUE (thread_id, id)
);
CREATE TABLE IF NOT EXISTS receipts (
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  read_at REAL NOT NULL,
  PRIMARY KEY (thread_id, message_id, user_id)
);
CREATE TABLE IF NOT EXISTS at_outbox (
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  claimed_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (thread_id, message_id)
);
CREATE INDEX IF NOT EXISTS at_outbox_due ON at_outbox(next_attempt_at, enqueued_at);
CREATE TABLE IF NOT EXISTS at_diagnostics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  thread_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  code TEXT NOT NULL,
  failure_class TEXT NOT NULL,
  detail TEXT NOT NULL,
  at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS at_diagnostics_by_message ON at_diagnostics(thread_id, message_id);
CREATE INDEX IF NOT EXISTS at_diagnostics_expiry ON at_diagnostics(expires_at);
CREATE TABLE IF NOT EXISTS sealed_states (
  thread_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  state_vector BLOB NOT NULL,
  PRIMARY KEY (thread_id, generation)
);
`;

/** A `threads` row as SQLite returns it (booleans are 0/1). */
export interface ThreadDbRow {
  id: string;
  title: string;
  mirror: number;
  archived: number;
  created_at: number;
  at_uri: string | null;
  generation: number;
  base_seq: number;
  /** The creator (issue 30); null on threads created before roles. */
  owner: string | null;
}

/** Additive schema changes for databases created by an earlier version (idempotent). */
export function migrate(db: Database.Database): void {
  const cols = new Set((db.pragma('table_info(threads)') as Array<{ name: string }>).map((c) => c.name));
  if (!cols.has('at_uri')) db.exec('ALTER TABLE threads ADD COLUMN at_uri TEXT');
  if (!cols.has('generation')) db.exec('ALTER TABLE threads ADD COLUMN generation INTEGER NOT NULL DEFAULT 0');
  if (!cols.has('base_seq')) db.exec('ALTER TABLE threads ADD COLUMN base_seq INTEGER NOT NULL DEFAULT 0');
  if (!cols.has('owner')) db.exec('ALTER TABLE threads ADD COLUMN owner TEXT');
  const memberCols = new Set((db.pragma('table_info(members)') as Array<{ name: string }>).map((c) => c.name));
  if (!memberCols.has('moderator')) db.exec('ALTER TABLE members ADD COLUMN moderator INTEGER NOT NULL DEFAULT 0');
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS threads_at_uri ON threads(at_uri) WHERE at_uri IS NOT NULL');
  rebuildUpdatesTable(db);
  const msgCols = new Set((db.pragma('table_info(messages)') as Array<{ name: string }>).map((c) => c.name));
  if (!msgCols.has('redacted')) db.exec('ALTER TABLE messages ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0');
  if (!msgCols.has('edited_at')) db.exec('ALTER TABLE messages ADD COLUMN edited_at REAL');
  if (!msgCols.has('at_edited_at')) db.exec('ALTER TABLE messages ADD COLUMN at_edited_at REAL');
  db.exec('CREATE INDEX IF NOT EXISTS messages_at_edits ON messages(thread_id) WHERE redacted = 0 AND at_uri IS NOT NULL AND edited_at IS NOT NULL AND (at_edited_at IS NULL OR at_edited_at < edited_at)');
  db.exec('CREATE INDEX IF NOT EXISTS messages_at_deletions ON messages(thread_id) WHERE redacted = 1 AND at_uri IS NOT NULL');
}

/**
 * Files written before issue 29 have `updates` with AUTOINCREMENT: the table is copied once
 * into its current form (same rows, same ids), in one transaction.
 */
function rebuildUpdatesTable(db: Database.Database): void {
  const ddl = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'updates'").get() as { sql: string } | undefined)?.sql ?? '';
  if (!/AUTOINCREMENT/i.test(ddl)) return;
  db.transaction(() => {
    db.exec(`ALTER TABLE updates RENAME TO updates_before_29;
      DROP INDEX IF EXISTS updates_by_thread;
      ${UPDATES_TABLE}
      INSERT INTO updates (id, thread_id, data) SELECT id, thread_id, data FROM updates_before_29;
      DROP TABLE updates_before_29;
      CREATE INDEX IF NOT EXISTS updates_by_thread ON updates(thread_id, id);
      DELETE FROM sqlite_sequence WHERE name = 'updates';`);
  })();
}

/**
 * Opens (creating when missing) the store's database file with its schema up to date.
 * `synchronous`: `FULL` fsyncs every commit (survives power loss); `NORMAL` survives process crashes.
 */
export function openSqlite(file: string, synchronous: 'FULL' | 'NORMAL'): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('foreign_keys = ON');
  // A deleted message's text must not survive in freed pages (design/message-lifecycle.md).
  db.pragma('secure_delete = ON');
  db.exec(SCHEMA);
  migrate(db);
  return db;
}
