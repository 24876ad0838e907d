/**
 * The SQLite store's off-loop durability (server/store/sqlite-durability.ts), on real files:
 * FULL uses it and NORMAL does not, commits queued as the store closes settle one way or the
 * other and what resolved is there after reopening, and a commit window (which also spaces
 * the fdatasyncs) resolves every commit. (The close race fixed with this test, a commit made
 * during close's wait for the fdatasync in flight, is not reproduced deterministically here.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { WalDurability } from '../../server/store/sqlite-durability.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'skein-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const thread = (id: string) => ({ id, title: 'T', participants: ['alice'], mirror: false, createdAt: 1 });

describe('SQLite durability off the event loop', () => {
  it('is used by FULL, not by NORMAL', async () => {
    const full = new SqliteStore(join(dir, 'full.sqlite'));
    const normal = new SqliteStore(join(dir, 'normal.sqlite'), { synchronous: 'NORMAL' });
    expect(full.syncsOffLoop).toBe(true);
    expect(normal.syncsOffLoop).toBe(false);
    await Promise.all([full.close(), normal.close()]);
  });

  it('settles commits made while the store closes, and keeps them', async () => {
    const file = join(dir, 'closing.sqlite');
    const s = new SqliteStore(file);
    await s.createThread(thread('t'));
    const appends = Array.from({ length: 20 }, (_, i) => s.appendUpdate('t', new Uint8Array([0, 0, i])));
    const closing = s.close();
    // Each append either resolves (durable) or rejects (store closed); none may hang.
    const outcomes = await Promise.allSettled(appends);
    await closing;
    const kept = outcomes.filter((o) => o.status === 'fulfilled').length;
    const again = new SqliteStore(file);
    expect((await again.loadUpdates('t')).updates.length).toBeGreaterThanOrEqual(kept);
    await again.close();
  });

  it('with a commit window, spaces fdatasyncs and still resolves every commit once durable', async () => {
    const file = join(dir, 'window.sqlite');
    const s = new SqliteStore(file, { commitWindowMs: 5 });
    await s.createThread(thread('w'));
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => s.appendUpdate('w', new Uint8Array([round, i]))));
    }
    expect((await s.loadUpdates('w')).updates.length).toBe(50);
    await s.close();
  });

  it('syncs a commit that comes after a quiet spell on the event loop, and one amid others in the pool', async () => {
    const file = join(dir, 'quiet.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
    // A quiet spell of a minute: every commit but the first comes amid others, whatever the load.
    const d = WalDurability.open(file, { quietMs: 60_000 })!;
    const settledBy = async (p: Promise<void>): Promise<'inline' | 'later'> => {
      let done = false;
      void p.then(() => (done = true));
      // Resolved already: only the microtask queue stands between; a pool sync needs the loop.
      await Promise.resolve();
      await Promise.resolve();
      return done ? 'inline' : 'later';
    };
    db.exec('INSERT INTO t VALUES (1)');
    expect(await settledBy(d.committedNow())).toBe('inline');
    // The next commit right after it: an fdatasync in the pool (several may share it).
    db.exec('INSERT INTO t VALUES (2)');
    const second = d.committedNow();
    expect(await settledBy(second)).toBe('later');
    await second;
    await d.close();
    // The default (1 ms): a commit 20 ms after the last one is quiet again.
    const e = WalDurability.open(file)!;
    db.exec('INSERT INTO t VALUES (3)');
    await e.committedNow();
    await new Promise((r) => setTimeout(r, 20));
    db.exec('INSERT INTO t VALUES (4)');
    expect(await settledBy(e.committedNow())).toBe('inline');
    await e.close();
    db.close();
  });
});
