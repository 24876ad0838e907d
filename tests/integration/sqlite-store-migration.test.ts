/**
 * A SQLite file written before issue 29 (`updates` with AUTOINCREMENT) opens with the table
 * rebuilt in its current form and nothing lost: the same messages with the same seqs, the
 * same update log in the same order, and new commits after.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { MessageCandidate } from '../../server/store/store.ts';

const cand = (id: string): MessageCandidate => ({ record: { id, authorId: 'alice', text: `text of ${id}`, clientSentAt: 42 }, state: 'sent' });

/** Puts `updates` back in its form before issue 29, rows and ids kept. */
function downgrade(file: string): void {
  const db = new Database(file);
  db.exec(`
    ALTER TABLE updates RENAME TO u_new;
    DROP INDEX updates_by_thread;
    CREATE TABLE updates (id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, data BLOB NOT NULL);
    CREATE INDEX updates_by_thread ON updates(thread_id, id);
    INSERT INTO updates (id, thread_id, data) SELECT id, thread_id, data FROM u_new;
    DROP TABLE u_new;`);
  db.close();
}

const ddl = (file: string, table: string): string => {
  const db = new Database(file, { readonly: true });
  const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as { sql: string }).sql;
  db.close();
  return sql;
};

describe('SQLite store: files from before issue 29', () => {
  it('rebuilds updates in its current form with every row kept', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'skein-migrate-')), 'db.sqlite');
    let s = new SqliteStore(file);
    await s.createThread({ id: 't1', title: 'T', participants: ['alice', 'bob'], mirror: false, createdAt: 1 });
    await s.commitMessages('t1', [new Uint8Array([1])], [cand('m1'), cand('m2')], 10);
    await s.appendUpdate('t1', new Uint8Array([2]));
    await s.commitMessages('t1', [new Uint8Array([3])], [cand('m3')], 11);
    await s.close();
    downgrade(file);
    expect(ddl(file, 'updates')).toMatch(/AUTOINCREMENT/);

    s = new SqliteStore(file);
    expect(ddl(file, 'updates')).not.toMatch(/AUTOINCREMENT/);
    expect((await s.listMessages('t1', 0, 10)).map((m) => [m.seq, m.id, m.text])).toEqual([
      [1, 'm1', 'text of m1'],
      [2, 'm2', 'text of m2'],
      [3, 'm3', 'text of m3'],
    ]);
    expect((await s.loadUpdates('t1')).updates).toEqual([new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])]);
    // A duplicate id is still refused a second seq (the unique key came along), new ones continue.
    const next = await s.commitMessages('t1', [new Uint8Array([4])], [cand('m3'), cand('m4')], 12);
    expect(next.map((m) => [m.seq, m.id])).toEqual([[4, 'm4']]);
    expect((await s.loadUpdates('t1')).updates.at(-1)).toEqual(new Uint8Array([4]));
    await s.close();

    // Opening again finds nothing to do.
    s = new SqliteStore(file);
    expect((await s.listMessages('t1', 0, 10)).length).toBe(4);
    await s.close();
  });

  it('writes the seq cursor back to threads.last_seq at a clean stop, for a build from before issue 29', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'skein-migrate-')), 'db.sqlite');
    const s = new SqliteStore(file);
    await s.createThread({ id: 't1', title: 'T', participants: ['alice'], mirror: false, createdAt: 1 });
    await s.createThread({ id: 't2', title: 'T', participants: ['alice'], mirror: false, createdAt: 1 });
    await s.commitMessages('t1', [new Uint8Array([1])], [cand('m1'), cand('m2')], 10);
    await s.commitMessages('t1', [new Uint8Array([3])], [cand('m3')], 11);
    await s.close();
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT id, last_seq, last_sent_at FROM threads ORDER BY id').all();
    db.close();
    expect(rows).toEqual([
      { id: 't1', last_seq: 3, last_sent_at: 11 },
      { id: 't2', last_seq: 0, last_sent_at: 0 },
    ]);
  });
});
