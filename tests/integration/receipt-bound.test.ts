/**
 * Receipts are bounded per user (issue 28, SKEIN_MAX_RECEIPTS_PER_USER): a member writing
 * receipts by the hundred keeps at most the bound in the live
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

const BOUND = 50;

describe('receipts per user', () => {
  it('stay within the bound however many are written; an update over it is refused; others are unaffected', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'skein-receipts-')), 'skein.sqlite'));
    cleanups.push(() => store.close());
    const relay = await startStoreRelay(store, { limits: { maxReceiptsPerUser: BOUND, messageBurst: 1000 } } as never);
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

    // Receipts must name messages the thread has (receipt-ids.test.ts): alice writes 120.
    const msgs: Array<{ id: string }> = [];
    alice.doc.transact(() => {
      for (let i = 0; i < 120; i++) msgs.push(alice.send(`m${i}`));
    });
    await mallory.until(() => msgs.every((m) => mallory.roots.canon.has(m.id)), 'mallory sees alice’s messages');
    // 100 receipts in 4 updates, twice the bound: the relay keeps those of the newest messages.
    for (let round = 0; round < 4; round++) {
      mallory.doc.transact(() => {
        for (let i = round * 25; i < (round + 1) * 25; i++) mallory.roots.receipts.set(receiptKey(msgs[i]!.id, 'mallory'), { readAt: round * 1000 + i });
      });
    }
    const read = receiptKey(msgs[99]!.id, 'mallory');
    const later = alice.send('second');
    await alice.until(() => alice.roots.canon.has(later.id), 'alice’s next message sequenced');
    // The relay brought mallory back to the bound; her receipt of the newest message stays.
    await mallory.until(() => mine(mallory.doc) <= BOUND, 'mallory’s receipts pruned to the bound');
    expect(mallory.roots.receipts.has(read)).toBe(true);
    expect(mallory.roots.receipts.has(receiptKey(msgs[0]!.id, 'mallory'))).toBe(false);
    await alice.until(() => mine(alice.doc) <= BOUND, 'alice’s copy pruned too');
    const carol = client('carol');
    await synced(carol);
    expect(mine(carol.doc)).toBeLessThanOrEqual(BOUND);
    expect(mine(await storedDoc(store, thread.id))).toBeLessThanOrEqual(BOUND);

    // One update adding more than the bound at once is refused.
    mallory.doc.transact(() => {
      for (let i = 0; i <= BOUND; i++) mallory.roots.receipts.set(receiptKey(msgs[i < 50 ? i : i + 50]!.id, 'mallory'), { readAt: 99_999 });
    });
    expect((await mallory.nextClose()).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(alice.closes).toEqual([]);
  });
});
