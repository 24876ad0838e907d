/**
 * A room is not kept loaded by a connection that went away while the room was loading
 * (a client reconnecting while its room unloads, then leaving): found by the threads-memory
 * bench, where rooms and their sockets stayed after every client had left.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config/config.ts';
import { DocRegistry } from '../../server/room/doc-registry.ts';
import { createLogger } from '../../server/ops/logger.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { SyncConnection } from '../../server/room/sync-connection.ts';
import { loopbackSocket } from '../helpers/loopback-socket.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('room lifetime', () => {
  it('a connection that closed while its room loaded does not keep the room loaded', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-room-')), 'skein.sqlite'));
    cleanups.push(() => store.close());
    const log = createLogger('silent');
    const registry = new DocRegistry(store, log, { idleUnloadMs: 50, compactAfterUpdates: 1000, maxTextLength: 4000 });
    cleanups.push(() => registry.closeAll());
    const thread = await store.createThread({ id: 'room-lifetime', title: 't', participants: ['u'], mirror: false, createdAt: Date.now() });
    const { limits, pingIntervalMs } = loadConfig({ SKEIN_DATA_DIR: tmpdir() }, { requireAuth: false });

    const { server, client } = await loopbackSocket(cleanups);
    const conn = new SyncConnection(server, 'u', thread.id, log, { pingIntervalMs, limits });
    // The room starts loading for it (as routes/sync.ts does on open)…
    const loading = registry.acquire(thread);
    // …and the peer is gone before the room is there.
    const closed = new Promise((r) => server.once('close', r));
    client.terminate();
    await closed;
    conn.onClosed();
    const room = await loading;
    room.join(conn);

    expect(room.conns.size).toBe(0);
    const deadline = Date.now() + 5000;
    while (registry.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(registry.size).toBe(0);
  });
});
