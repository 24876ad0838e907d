/**
 * Windowed threads (issue #14, docs/data-model.md "Windowed threads"): a thread's live
 * document rolls into a new generation; sealed history is served by seq range. Real relay
 * process, stock y-websocket clients.
 */
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import type { MessageRecord } from '../../shared/schema.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { type TestClient, canonicalOrder, synced } from '../helpers/y-client.ts';

const PER_GENERATION = 5;
const { relay, tokens, client } = relayFixture(
  { SKEIN_IDLE_UNLOAD_MS: '300', SKEIN_GENERATION_MESSAGES: String(PER_GENERATION), SKEIN_ROLL_MIN_INTERVAL_MS: '0' },
  ['alice', 'bob'],
);

interface ThreadJson {
  generation: number;
  baseSeq: number;
  liveDoc: string;
  lastSeq: number;
}
interface HistoryJson {
  messages: Array<MessageRecord & { seq: number }>;
  receipts: Array<{ messageId: string; userId: string; readAt: number }>;
  baseSeq: number;
}

const thread = async (id: string): Promise<ThreadJson> => (await relay.api('GET', `/v1/threads/${id}`, tokens.alice)).body;
const history = async (id: string, query: string): Promise<HistoryJson> => {
  const r = await relay.api('GET', `/v1/threads/${id}/messages?${query}`, tokens.alice);
  expect(r.status).toBe(200);
  return r.body;
};
/** Every sequenced message of the thread, by seq (all generations). */
const allMessages = async (id: string) => (await history(id, 'afterSeq=0&limit=1000')).messages;

/** Sends `n` messages in one turn (one flush) and awaits the 4410 that seals the generation. */
async function fillGeneration(c: TestClient, n = PER_GENERATION): Promise<{ sent: MessageRecord[]; close: { code: number; reason: string } }> {
  const closed = c.nextClose();
  const sent = Array.from({ length: n }, (_, i) => c.send(`message ${i}`));
  return { sent, close: await closed };
}

/** A thread alice filled once (rolled to generation 1), and alice's stock client on the live document. */
async function rolledOnce(): Promise<{ id: string; sent: MessageRecord[]; live: TestClient }> {
  const { id } = await relay.createThread(tokens.alice!, ['bob']);
  const a = client(id, 'alice');
  await synced(a);
  const { sent } = await fillGeneration(a);
  const live = client(`${id}~1`, 'alice');
  await synced(live);
  return { id, sent, live };
}

describe('generations', () => {
  it('rolls after SKEIN_GENERATION_MESSAGES: 4410 names the live doc, seqs continue gap-free, history pages back by seq', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    expect(await thread(id)).toMatchObject({ generation: 0, baseSeq: 0, liveDoc: id });
    const a = client(id, 'alice');
    await synced(a);
    const { sent, close } = await fillGeneration(a);
    expect(close).toEqual({ code: CloseCode.GENERATION_SEALED, reason: `generation_rolled ${id}~1` });
    expect(await thread(id)).toMatchObject({ generation: 1, baseSeq: 5, lastSeq: 5, liveDoc: `${id}~1` });
    // The sealed name is refused at once; the live one starts with meta only.
    const old = client(id, 'bob');
    expect((await old.nextClose()).code).toBe(CloseCode.GENERATION_SEALED);
    const a1 = client(`${id}~1`, 'alice');
    await synced(a1);
    await a1.until(() => a1.roots.meta.get('baseSeq') === 5, 'meta of generation 1');
    expect(a1.roots.meta.get('generation')).toBe(1);
    expect(a1.roots.messages.length).toBe(0);
    const more = [a1.send('six'), a1.send('seven')];
    await a1.until(allCanon(a1, more.map((m) => m.id)), 'canon in generation 1');
    expect(canonicalOrder(a1).map((o) => o.seq)).toEqual([6, 7]);
    // History: every message once, by seq, across generations; beforeSeq pages back.
    expect((await allMessages(id)).map((m) => [m.seq, m.id])).toEqual([...sent, ...more].map((m, i) => [i + 1, m.id]));
    expect((await history(id, 'beforeSeq=6&limit=3')).messages.map((m) => m.seq)).toEqual([3, 4, 5]);
    expect((await history(id, 'beforeSeq=3&limit=3')).messages.map((m) => m.seq)).toEqual([1, 2]);
    expect((await relay.api('GET', `/v1/threads/${id}/messages?beforeSeq=3&afterSeq=1`, tokens.alice)).status).toBe(400);
    // Looked up by id (e.g. named by a receipt): seq order, unknown ids left out; bad input is a 400.
    const byId = await history(id, `id=${more[1]!.id}&id=nope&id=${sent[1]!.id}`);
    expect(byId.messages.map((m) => m.seq)).toEqual([2, 7]);
    for (const bad of [`id=${sent[0]!.id}&afterSeq=1`, 'id=', `id=${'x'.repeat(65)}`, Array.from({ length: 1001 }, (_, i) => `id=m${i}`).join('&')]) {
      expect((await relay.api('GET', `/v1/threads/${id}/messages?${bad}`, tokens.alice)).status).toBe(400);
    }
    // Unread between two seqs: messages by others only (bob wrote none of these seven).
    expect((await relay.api('GET', `/v1/threads/${id}/unread?afterSeq=1&beforeSeq=7`, tokens.bob)).body).toMatchObject({ count: 5 });
    expect((await relay.api('GET', `/v1/threads/${id}/unread?afterSeq=0`, tokens.alice)).body).toMatchObject({ count: 0 });
    expect((await relay.api('GET', `/v1/threads/${id}/unread?afterSeq=-1`, tokens.bob)).status).toBe(400);
    // A future generation does not exist.
    expect((await client(`${id}~9`, 'alice').nextClose()).code).toBe(CloseCode.UNKNOWN_THREAD);
    // Unloaded (idle) and loaded again: the live generation and its seqs are intact.
    a1.destroy();
    await new Promise((r) => setTimeout(r, 600));
    const again = client(`${id}~1`, 'bob');
    await synced(again);
    await again.until(allCanon(again, more.map((m) => m.id)), 'generation 1 after reload');
    expect(canonicalOrder(again).map((o) => o.seq)).toEqual([6, 7]);
  });

  it('a stock client that composed offline into a generation sealed meanwhile loses nothing: the relay takes its messages before the 4410', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    b.provider.disconnect();
    const offline = [b.send('written offline 1'), b.send('written offline 2')];
    await fillGeneration(a);
    // A stock client knows nothing of generations: it reconnects to the name it had.
    b.provider.connect();
    expect((await b.nextClose()).code).toBe(CloseCode.GENERATION_SEALED);
    b.provider.disconnect();
    // The relay appended them to the live generation before closing: once each, after the roll.
    const all = await allMessages(id);
    expect(all.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(all.map((m) => m.id)).size).toBe(7);
    expect(all.slice(5).map((m) => [m.id, m.authorId, m.text])).toEqual(offline.map((m) => [m.id, 'bob', m.text]));
    // Reconnecting again brings nothing twice.
    b.provider.connect();
    expect((await b.nextClose()).code).toBe(CloseCode.GENERATION_SEALED);
    b.provider.disconnect();
    // What the SDK does on 4410 as well (re-append its pending records by id): no second seq.
    const live = client((await thread(id)).liveDoc, 'bob');
    await synced(live);
    await live.until(allCanon(live, offline.map((m) => m.id)), 'canon of the salvaged messages');
    live.roots.messages.insert(live.roots.messages.length, offline);
    const after = live.send('after the re-append');
    await live.until(allCanon(live, [after.id]), 'next message sequenced');
    expect(live.roots.canon.get(after.id)!.seq).toBe(8);
    expect((await allMessages(id)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(live.closes).toEqual([]);
    // The second copies were deleted by the relay: each id is in the live document once.
    await live.until(() => offline.every((o) => live.roots.messages.toArray().filter((m) => m.id === o.id).length === 1), 'duplicates removed');
  });

  it("the relay takes only the peer's own well-formed messages from a sealed copy, never another author's", async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    b.provider.disconnect();
    // Offline, bob's copy gains a record forged as alice's and a malformed one, next to his own.
    const forged = { id: ulid(), authorId: 'alice', text: 'forged', clientSentAt: Date.now() };
    b.roots.messages.push([forged, { id: ulid(), authorId: 'bob', text: 42 } as unknown as MessageRecord]);
    const own = b.send('mine');
    await fillGeneration(a);
    b.provider.connect();
    expect((await b.nextClose()).code).toBe(CloseCode.GENERATION_SEALED);
    b.provider.disconnect();
    const all = await allMessages(id);
    expect(all.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all[5]!.id).toBe(own.id);
    expect(all.some((m) => m.id === forged.id)).toBe(false);
  });

  it('a re-appended id the relay sequenced before the roll keeps its seq and gets no second one', async () => {
    // The race of invariant 2: the client never saw the canon of a message the relay sealed.
    const { id, sent, live } = await rolledOnce();
    live.roots.messages.insert(0, [sent[2]!]);
    await live.until(allCanon(live, [sent[2]!.id]), 'canon of the re-appended message');
    expect(live.roots.canon.get(sent[2]!.id)!.seq).toBe(3);
    const fresh = live.send('after');
    await live.until(allCanon(live, [fresh.id]), 'next message sequenced');
    expect(live.roots.canon.get(fresh.id)!.seq).toBe(6);
    expect((await allMessages(id)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(live.closes).toEqual([]);
  });

  it('re-appending messages a sealed generation holds cannot force a roll; fresh messages still roll', async () => {
    const { id, sent, live } = await rolledOnce();
    for (let round = 0; round < 3; round++) {
      live.roots.messages.insert(live.roots.messages.length, sent);
      await live.until(allCanon(live, sent.map((m) => m.id)), `round ${round}: canon of the re-appended messages`);
    }
    const marker = live.send('after the re-appends');
    await live.until(allCanon(live, [marker.id]), `the marker sequenced (closes: ${JSON.stringify(live.closes)}) ${relay.rawLog.slice(-20).join('\n')}`);
    expect(live.roots.messages.length).toBeGreaterThanOrEqual(PER_GENERATION);
    expect((await thread(id)).generation).toBe(1);
    expect(live.closes).toEqual([]);
    // Enough messages of its own still roll the generation.
    const { close } = await fillGeneration(live, PER_GENERATION - 1);
    expect(close).toEqual({ code: CloseCode.GENERATION_SEALED, reason: `generation_rolled ${id}~2` });
  });

  it('receipts: read-up-to survives the roll, sealed receipts come with history, the latest readAt wins for old messages', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    const first = [a.send('one'), a.send('two'), a.send('three')];
    await b.until(allCanon(b, first.map((m) => m.id)), 'bob has the first three');
    b.roots.receipts.set(`${first[0]!.id}|bob`, { readAt: 100 });
    b.roots.receipts.set(`${first[2]!.id}|bob`, { readAt: 300 });
    await a.until(() => a.roots.receipts.has(`${first[2]!.id}|bob`), 'alice sees the receipts');
    const closed = a.nextClose();
    a.send('four');
    a.send('five');
    expect((await closed).code).toBe(CloseCode.GENERATION_SEALED);
    const live = client(`${id}~1`, 'bob');
    await synced(live);
    // The newest receipt (by seq) is carried into the live document; the others are rows.
    expect(live.roots.receipts.toJSON()).toEqual({ [`${first[2]!.id}|bob`]: { readAt: 300 } });
    const page = await history(id, 'beforeSeq=6&limit=5');
    expect(page.receipts.sort((x, y) => x.readAt - y.readAt)).toEqual([
      { messageId: first[0]!.id, userId: 'bob', readAt: 100 },
      { messageId: first[2]!.id, userId: 'bob', readAt: 300 },
    ]);
    // A receipt for a sealed message is accepted; a lower readAt than the relay's loses.
    live.roots.receipts.set(`${first[1]!.id}|bob`, { readAt: 200 });
    live.roots.receipts.set(`${first[2]!.id}|bob`, { readAt: 50 });
    const watcher = client(`${id}~1`, 'alice');
    await synced(watcher);
    await watcher.until(
      () => (watcher.roots.receipts.get(`${first[1]!.id}|bob`) as { readAt: number } | undefined)?.readAt === 200,
      'receipt for a sealed message',
    );
    await live.until(() => (live.roots.receipts.get(`${first[2]!.id}|bob`) as { readAt: number }).readAt === 300, 'maximum restored');
    expect(live.closes).toEqual([]);
  });

  it('refuses thread ids containing the generation separator', async () => {
    const r = await relay.api('POST', '/v1/threads', tokens.alice, { id: `t${ulid()}~1` });
    expect(r.status).toBe(400);
  });
});
