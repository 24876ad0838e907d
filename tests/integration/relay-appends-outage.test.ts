/**
 * Messages the relay appends itself (AT ingest, salvage from a sealed generation) while its
 * backends are not writable: refused before the document changes, like clients' updates
 * (4503), instead of a failed commit that breaks the room for every peer (STORAGE_FAILURE).
 * A real room on a real SQLite store, with its peer on a loopback WebSocket.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../server/config/config.ts';
import { DocRegistry } from '../../server/room/doc-registry.ts';
import { createLogger } from '../../server/ops/logger.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { SyncConnection } from '../../server/room/sync-connection.ts';
import { loopbackSocket } from '../helpers/loopback-socket.ts';
import { BackendUnavailableError } from '../../server/room/room-types.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const message = (id: string) => ({ message: { id, authorId: 'did:plc:remote', text: `ingested ${id}`, clientSentAt: 1 }, atUri: `at://did:plc:remote/dev.skein.chat.message/${id}`, atCid: 'bafy' });

describe('relay appends during a backend outage', () => {
  it('are refused without touching the document or the peers, and go through once the backends are back', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-outage-')), 'skein.sqlite'));
    cleanups.push(() => store.close());
    const log = createLogger('silent');
    let down: string | null = 'backend unavailable: redis';
    const registry = new DocRegistry(store, log, { idleUnloadMs: 60_000, compactAfterUpdates: 1000, maxTextLength: 4000, refuseWrites: () => down });
    cleanups.push(() => registry.closeAll());
    const thread = await store.createThread({ id: 'outage', title: 't', participants: ['u'], mirror: false, createdAt: Date.now() });
    const { limits, pingIntervalMs } = loadConfig({ SKEIN_DATA_DIR: tmpdir() }, { requireAuth: false });
    const { server, client } = await loopbackSocket(cleanups);
    const closes: number[] = [];
    client.on('close', (code) => closes.push(code));
    const room = await registry.acquire(thread);
    room.join(new SyncConnection(server, 'u', thread.id, log, { pingIntervalMs, limits }));

    await expect(room.appendIngested([message('a1')])).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(room.doc.getArray('messages').length).toBe(0);
    expect(await store.listMessagesBefore(thread.id, 100, 10)).toEqual([]);

    down = null;
    const stored = await room.appendIngested([message('a1'), message('a2')]);
    expect(stored.map((m) => [m.id, m.seq])).toEqual([
      ['a1', 1],
      ['a2', 2],
    ]);
    expect(room.doc.getArray('messages').length).toBe(2);
    // The peer was never closed (a broken room closes it with STORAGE_FAILURE).
    expect(client.readyState).toBe(WebSocket.OPEN);
    expect(closes).toEqual([]);
    expect(room.conns.size).toBe(1);
  });
});
