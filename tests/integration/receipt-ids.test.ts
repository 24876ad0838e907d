/**
 * Receipts only for messages the thread has (issue 28): a receipt naming a message that is
 * neither in the live document nor sealed in an earlier generation is refused (4402; the
 * update is not applied), so the issue's probe — receipts by the ten thousand for ids that do
 * not exist — stores nothing and every member's sync stays small. Receipts of sealed messages
 * (the SDK carries a user's newest one over a roll) and of live ones are taken; the others'
 * messages are sequenced meanwhile.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { parseReceiptKey, receiptKey } from '../../shared/schema.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const PER_GENERATION = 5;

describe('receipt ids', () => {
  it('receipts of unknown ids are refused 4402 and never stored; receipts of live and sealed messages are taken', async () => {
    const relay = await startRelay({ SKEIN_GENERATION_MESSAGES: String(PER_GENERATION), SKEIN_ROLL_MIN_INTERVAL_MS: '0' });
    onTestFinished(() => relay.stop());
    const tokens = { alice: await relay.token('alice'), bob: await relay.token('bob'), mallory: await relay.token('mallory'), carol: await relay.token('carol') };
    const { id } = await relay.createThread(tokens.alice, ['bob', 'mallory', 'carol']);
    const open = (doc: string, user: keyof typeof tokens) => {
      const c = connectClient(relay.wsUrl, doc, tokens[user], user);
      onTestFinished(() => c.destroy());
      return c;
    };
    // Generation 0 fills and rolls: its messages are sealed (rows only).
    const a0 = open(id, 'alice');
    await synced(a0);
    const rolled = a0.nextClose();
    const sealed: Array<{ id: string }> = [];
    a0.doc.transact(() => {
      for (let i = 0; i < PER_GENERATION; i++) sealed.push(a0.send(`sealed ${i}`));
    });
    expect((await rolled).code).toBe(CloseCode.GENERATION_SEALED);
    const live = `${id}~1`;
    const alice = open(live, 'alice');
    const bob = open(live, 'bob');
    await Promise.all([synced(alice), synced(bob)]);
    const first = alice.send('live one');
    await bob.until(() => bob.roots.canon.has(first.id), 'alice’s live message');

    // The probe: 20,000 receipts of ids that do not exist, in one update.
    const flood = open(live, 'mallory');
    await synced(flood);
    const floodClosed = flood.nextClose();
    flood.doc.transact(() => {
      for (let i = 0; i < 20_000; i++) flood.roots.receipts.set(receiptKey(`nope-${i}`, 'mallory'), { readAt: i });
    });
    expect((await floodClosed).code).toBe(CloseCode.POLICY_VIOLATION);
    // Fewer than the per-user bound, but for ids the thread never had: refused too.
    const few = open(live, 'mallory');
    await synced(few);
    const fewClosed = few.nextClose();
    few.doc.transact(() => {
      few.roots.receipts.set(receiptKey(first.id, 'mallory'), { readAt: 1 });
      for (let i = 0; i < 100; i++) few.roots.receipts.set(receiptKey(`ghost-${i}`, 'mallory'), { readAt: i });
    });
    expect((await fewClosed).code).toBe(CloseCode.POLICY_VIOLATION);

    // Honest receipts: of a live message and of a sealed one (as after a roll).
    bob.roots.receipts.set(receiptKey(first.id, 'bob'), { readAt: Date.now() });
    bob.roots.receipts.set(receiptKey(sealed[PER_GENERATION - 1]!.id, 'bob'), { readAt: Date.now() });
    // Three more: the live generation (one message so far) stays below its roll size.
    const after: Array<{ id: string }> = [];
    for (let i = 0; i < 3; i++) after.push(alice.send(`after ${i}`));
    await alice.until(() => after.every((m) => alice.roots.canon.has(m.id)), 'alice’s messages sequenced');
    await alice.until(() => alice.roots.receipts.has(receiptKey(sealed[PER_GENERATION - 1]!.id, 'bob')) && alice.roots.receipts.has(receiptKey(first.id, 'bob')), 'bob’s receipts reach alice');
    expect(bob.closes).toEqual([]);
    expect(alice.closes).toEqual([]);

    // Nothing of mallory's went anywhere: a new member's full sync holds no receipt of hers.
    const carol = open(live, 'carol');
    await synced(carol);
    await carol.until(() => carol.roots.receipts.has(receiptKey(first.id, 'bob')), 'carol has bob’s receipt');
    expect([...carol.roots.receipts.keys()].filter((k) => parseReceiptKey(k)?.userId === 'mallory')).toEqual([]);
    const size = Y.encodeStateAsUpdate(carol.doc).byteLength;
    expect(size).toBeLessThan(20_000);
    console.log(`receipt probe: 20,100 receipts of unknown ids refused; a member's full sync is ${size} bytes`);
  });
});
