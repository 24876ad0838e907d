/**
 * The room's compaction as a relay runs it (server/room/room-log.ts, wired in thread-room.ts):
 * a thread that keeps growing, generations off, with a low row threshold and the default
 * byte share. The stored log must be compacted again and again (the room counts every row's
 * bytes), but later and later as the snapshot grows (it counts them against the snapshot),
 * and the log must always load to every message. Real relay in process, real SQLite and PostgreSQL stores,
 * a stock y-websocket client.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { afterEach, describe, expect, it } from 'vitest';
import { threadRoots } from '../../shared/schema.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { Store } from '../../server/store/store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { startStoreRelay } from '../helpers/store-relay.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const pg = postgresSchemas();
const stores: Array<[string, () => Promise<Store>]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-compaction-')), 'skein.sqlite'))],
  ['postgres', () => pg.openStore()],
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(stores)('compaction of a growing thread (%s)', (_kind, open) => {
  it('compacts by rows and bytes: bounded log, later compactions as the snapshot grows, nothing lost', async () => {
    const store = await open();
    cleanups.push(() => store.close());
    const relay = await startStoreRelay(store, { compactAfterUpdates: 10, compactGrowthPercent: 50, generationMessages: 0, idleUnloadMs: 60_000 });
    cleanups.push(() => relay.close());
    const thread = await store.createThread({ id: 'compaction', title: 'long', participants: ['alice'], mirror: false, createdAt: Date.now() });
    const alice = connectClient(relay.wsUrl, thread.id, 'alice', 'alice');
    cleanups.push(() => alice.destroy());
    await synced(alice);

    const messages = 240;
    const rowsSeen: number[] = [];
    for (let i = 0; i < messages; i++) {
      const m = alice.send(`message ${i} of a thread that keeps growing, about as long as a chat line`);
      await alice.until(() => alice.roots.canon.has(m.id), `message ${i} sequenced`);
      rowsSeen.push((await store.loadUpdates(thread.id)).updates.length);
    }
    // A compaction shows as the row count falling.
    const compactions = rowsSeen.filter((n, i) => i > 0 && n < rowsSeen[i - 1]!).length;
    const longest = Math.max(...rowsSeen);
    // Rows alone (10) would compact ~24 times with at most 11 rows; bytes never counted would
    // compact once and let the log grow to every message.
    expect(compactions).toBeGreaterThanOrEqual(3);
    expect(compactions).toBeLessThan(15);
    expect(longest).toBeGreaterThan(12);
    expect(longest).toBeLessThan(messages * 0.6 + 12);

    const loaded = new Y.Doc();
    for (const u of (await store.loadUpdates(thread.id)).updates) Y.applyUpdate(loaded, u);
    expect(threadRoots(loaded).messages.length).toBe(messages);
    expect(threadRoots(loaded).canon.size).toBe(messages);
  });
});
