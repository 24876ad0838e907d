/**
 * RoomLog: when a room compacts its update log. A compaction encodes the whole document, so
 * with rows alone deciding, a thread that keeps growing (generations off or large) pays
 * for its whole history again every few hundred rows; the byte share keeps the encoded
 * total proportional to what was appended. Real Y.Doc, real SQLite store.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/ops/logger.ts';
import { type CompactionPolicy, RoomLog } from '../../server/room/room-log.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';

const stores: SqliteStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

/** A thread whose document gets `messages` rows of about 200 bytes each, compacted by `policy`. */
async function grow(policy: CompactionPolicy, messages: number) {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-room-log-')), 'skein.sqlite'));
  stores.push(store);
  const thread = await store.createThread({ id: 'room-log', title: 't', participants: ['u'], mirror: false, createdAt: Date.now() });
  const doc = new Y.Doc();
  const log = new RoomLog(doc, store, createLogger('silent'), policy);
  let row: Uint8Array | null = null;
  doc.on('update', (u: Uint8Array) => (row = u));
  const compactions: number[] = [];
  for (let i = 0; i < messages; i++) {
    doc.getArray('messages').push([{ id: `m${i}`, text: 'x'.repeat(180) }]);
    await store.appendUpdate(thread.id, row!, thread.generation);
    log.added(row!.length);
    if (log.due) {
      await log.compact(thread);
      compactions.push((await store.loadUpdates(thread.id)).updates[0]!.length);
    }
  }
  return { store, thread, doc, log, compactions };
}

describe('RoomLog', () => {
  it('with rows alone, compacts every threshold rows however large the snapshot', async () => {
    const { compactions, log } = await grow({ afterRows: 40 }, 1000);
    // Thresholds are drawn from 30..40 rows: at least 1000 / 41 compactions.
    expect(compactions.length).toBeGreaterThanOrEqual(24);
    expect(log.rows).toBeLessThanOrEqual(41);
  });

  it('with a byte share, encodes a bounded multiple of the document, and nothing is lost', async () => {
    const { store, thread, doc, compactions } = await grow({ afterRows: 40, growthPercent: 50 }, 1000);
    const final = Y.encodeStateAsUpdate(doc).length;
    const encoded = compactions.reduce((a, b) => a + b, 0);
    // Each snapshot is paid for by half its size in new rows: 1 + 2 + 4/3 + … ≈ 3× the final
    // document at most (rows alone: 15× here, and growing with the thread).
    expect(encoded).toBeLessThanOrEqual(3.5 * final);
    expect(compactions.length).toBeGreaterThan(2);
    expect(compactions.length).toBeLessThan(12);
    const reloaded = new Y.Doc();
    for (const u of (await store.loadUpdates(thread.id)).updates) Y.applyUpdate(reloaded, u);
    expect(reloaded.getArray('messages').length).toBe(1000);
  });

  it('waits for the byte share after a load, counting the first row as the snapshot', async () => {
    const { store, thread, doc } = await grow({ afterRows: 40, growthPercent: 0 }, 100);
    const loaded = new RoomLog(doc, store, createLogger('silent'), { afterRows: 2, growthPercent: 100 });
    const rows = (await store.loadUpdates(thread.id)).updates;
    loaded.loaded(rows);
    const snapshot = rows[0]!.length;
    const rest = rows.slice(1).reduce((a, r) => a + r.length, 0);
    expect(rest).toBeLessThan(snapshot);
    expect(loaded.due).toBe(false);
    // Rows past the threshold but not yet the snapshot's size: still not due.
    loaded.added(snapshot - rest - 1);
    expect(loaded.due).toBe(false);
    loaded.added(1);
    expect(loaded.due).toBe(true);
  });
});
