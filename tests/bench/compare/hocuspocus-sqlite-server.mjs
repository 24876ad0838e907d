// Hocuspocus with @hocuspocus/extension-database persisting to SQLite through better-sqlite3:
// the setup its docs show (the whole document stored after `debounce` ms of quiet, at most
// every `maxDebounce` ms), with the schema and upsert of @hocuspocus/extension-sqlite.
// WAL, synchronous=FULL: each store is durable when it returns.
//   HP_DB=<file>        database file (required)
//   HP_DEBOUNCE=<ms>    unset: Hocuspocus's default (2000 ms, max 10000 ms); 0: a store per change
// Prints one JSON line with its port, like the relay does.
import { Server } from '@hocuspocus/server';
import { Database } from '@hocuspocus/extension-database';
import BetterSqlite3 from 'better-sqlite3';

const db = new BetterSqlite3(process.env.HP_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS "documents" ("name" varchar(255) NOT NULL, "data" blob NOT NULL, UNIQUE(name))');
const select = db.prepare('SELECT data FROM "documents" WHERE name = ? ORDER BY rowid DESC');
const upsert = db.prepare('INSERT INTO "documents" ("name", "data") VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data');

const debounce = process.env.HP_DEBOUNCE === undefined || process.env.HP_DEBOUNCE === '' ? {} : { debounce: Number(process.env.HP_DEBOUNCE) };
const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  ...debounce,
  extensions: [
    new Database({
      fetch: async ({ documentName }) => select.get(documentName)?.data ?? null,
      store: async ({ documentName, state }) => void upsert.run(documentName, state),
    }),
  ],
});
await server.listen();
console.log(JSON.stringify({ event: 'listening', port: server.address.port }));
