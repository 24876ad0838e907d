/**
 * Edits and deletions of sealed messages while the store fails (docs/design/message-lifecycle.md,
 * "Generations"): the relay looks a sealed message's author up in its rows before its policy
 * judges the write; when that lookup fails the write is not refused as a policy violation
 * (4402, final) but closed as a store error (retryable), and it lands once the store answers
 * again. A relay in process over a store with an injected fault (helpers/faulty-store.ts),
 * stock y-websocket clients, on SQLite and on PostgreSQL.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { editKey } from '../../shared/message-lifecycle.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import type { Store } from '../../server/store/store.ts';
import { eventually } from '../helpers/eventually.ts';
import { Faults, faultyStore } from '../helpers/faulty-store.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { startStoreRelay } from '../helpers/store-relay.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const pg = postgresSchemas();
const stores: Array<[string, () => Promise<Store>]> = [
  ['sqlite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-lifecycle-faults-')), 'skein.sqlite'))],
  ['postgres', () => pg.openStore()],
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(stores)('lifecycle writes of sealed messages while the store fails (%s)', (_kind, open) => {
  it('a failed author lookup closes the sender retryably; the edit and the deletion land once the store is back', async () => {
    const faults = new Faults();
    const real = await open();
    cleanups.push(() => real.close());
    const relay = await startStoreRelay(faultyStore(real, faults), { generationMessages: 3, limits: { rollMinIntervalMs: 0 } });
    cleanups.push(() => relay.close());
    const thread = await real.createThread({ id: `t-${ulid().toLowerCase()}`, title: 'faults', participants: ['alice', 'bob'], mirror: false, createdAt: Date.now() });
    const client = (doc: string, user: string) => {
      const c = connectClient(relay.wsUrl, doc, user, user);
      cleanups.push(() => c.destroy());
      return c;
    };
    const a = client(thread.id, 'alice');
    await synced(a);
    const sealed = a.send('sealed, to be deleted');
    const edited = a.send('sealed, to be edited');
    const rolled = a.nextClose();
    a.send('third');
    await a.until(allCanon(a, [sealed.id, edited.id]), 'sequenced');
    expect((await rolled).code).toBe(CloseCode.GENERATION_SEALED);
    a.destroy();

    const live = client(`${thread.id}~1`, 'alice');
    const bob = client(`${thread.id}~1`, 'bob');
    await Promise.all([synced(live), synced(bob)]);
    // The next lookup of messages by id (the sealed authors) fails once.
    faults.fail('getMessages');
    const closed = live.nextClose();
    live.doc.transact(() => {
      live.roots.redactions.set(sealed.id, { by: 'alice', at: Date.now() });
      live.roots.edits.set(editKey(edited.id, ulid()), { text: 'edited while the store failed', editedAt: Date.now() });
    });
    expect((await closed).code).toBe(CloseCode.BACKEND_UNAVAILABLE);
    // Alice's provider reconnects and resends; the lookup now answers.
    await bob.until(() => bob.roots.redactions.has(sealed.id) && bob.roots.edits.size === 1, 'bob sees the deletion and the edit');
    expect(faults.injected.get('getMessages')).toBe(1);
    expect(live.closes.filter((c) => c.code >= 4400 && c.code < 4500)).toEqual([]);
    const rows = await eventually(
      () => real.listMessages(thread.id, 0, 10),
      (r) => r.find((m) => m.id === sealed.id)?.redacted === true && r.find((m) => m.id === edited.id)?.text === 'edited while the store failed',
      'the rows hold the deletion and the edit',
    );
    expect(rows.map((m) => m.seq)).toEqual([1, 2, 3]);
  });
});
