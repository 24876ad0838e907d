/**
 * Receipts are bounded per user (issue 28, SKEIN_MAX_RECEIPTS_PER_USER): a member writing
 * receipts by the thousand (for ids that do not exist) keeps at most the bound in the live
 * document — the relay removes those of the oldest messages — so every member's full sync
 * stays small; one update adding more than the bound is refused (4402); the others' messages
 * are sequenced meanwhile.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { parseReceiptKey, receiptKey, threadRoots } from '../../shared/schema.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { startStoreRelay, storedDoc } from '../helpers/store-relay.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BOUND = 300;

describe('receipts per user', () => {
  it('stay within the bound however many are written; an update over it is refused; others are unaffected', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-receipts-')), 'skein.sqlite'));
    cleanups.push(() => store.close());
    const relay = await startStoreRelay(store, { limits: { maxReceiptsPerUser: BOUND } } as never);
    cleanups.push(() => relay.close());
    const thread = await store.createThread({ id: 'receipts', title: 't', participants: ['alice', 'mallory', 'carol'], mirror: false, createdAt: Date.now() });
    const client = (user: string) => {
      const c = connectClient(relay.wsUrl, thread.id, user, user);
      cleanups.push(() => c.destroy());
      return c;
    };
    const alice = client('alice');
    const mallory = client('mallory');
    await Promise.all([synced(alice), synced(mallory)]);
    const mine = (doc: Y.Doc) => [...threadRoots(doc).receipts.keys()].filter((k) => parseReceiptKey(k)?.userId === 'mallory').length;

    const honest = alice.send('first');
    const read = receiptKey(honest.id, 'mallory');
    await mallory.until(() => mallory.roots.canon.has(honest.id), 'mallory sees alice’s message');
    mallory.roots.receipts.set(read, { readAt: Date.now() });
    for (let round = 0; round < 10; round++) {
      mallory.doc.transact(() => {
        for (let i = 0; i < 200; i++) mallory.roots.receipts.set(receiptKey(`nope-${round}-${i}`, 'mallory'), { readAt: round * 1000 + i });
      });
    }
    const later = alice.send('second');
    await alice.until(() => alice.roots.canon.has(later.id), 'alice’s next message sequenced');
    // The relay brought mallory back to the bound; her receipt of a real message stays.
    await mallory.until(() => mine(mallory.doc) <= BOUND, 'mallory’s receipts pruned to the bound');
    expect(mallory.roots.receipts.has(read)).toBe(true);
    await alice.until(() => mine(alice.doc) <= BOUND, 'alice’s copy pruned too');
    const carol = client('carol');
    await synced(carol);
    expect(mine(carol.doc)).toBeLessThanOrEqual(BOUND);
    // 2,001 receipts were written; a new member's full sync holds the bound's worth.
    expect(Y.encodeStateAsUpdate(carol.doc).byteLength).toBeLessThan(100_000);
    expect(mine(await storedDoc(store, thread.id))).toBeLessThanOrEqual(BOUND);

    // One update adding more than the bound at once is refused.
    mallory.doc.transact(() => {
      for (let i = 0; i <= BOUND; i++) mallory.roots.receipts.set(receiptKey(`flood-${i}`, 'mallory'), { readAt: 1 });
    });
    expect((await mallory.nextClose()).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(alice.closes).toEqual([]);
  });
});
