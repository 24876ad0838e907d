/**
 * The SDK's window and rebase rules without a relay: which pending records a sealed
 * generation re-appends, which seq ranges a window misses, the history store in
 * IndexedDB (fake-indexeddb), the history window paging from IndexedDB before the relay
 * and fetching only missing ranges, and a rebase between two local generations.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { CanonicalMessage } from '../../shared/api-types.ts';
import type { MessageRecord } from '../../shared/schema.ts';
import { missingRanges, recordsToReappend } from '../../shared/window-rules.ts';
import { PAGE_SEQS, decodePage, encodePage, idHash, mergePage } from '../../client/history/history-page.ts';
import { HistoryStore, type SealedMessage } from '../../client/history/history-store.ts';
import { HistoryWindow } from '../../client/history/history-window.ts';
import { LiveGeneration } from '../../client/generations/live-generation.ts';
import { LocalStore } from '../../client/local/local-store.ts';
import type { ViewMessage } from '../../client/view/message-list.ts';
import { RenderWindow } from '../../client/view/render-window.ts';
import { applyRebase, prepareRebase } from '../../client/generations/rebase.ts';
import type { MessagesPage, RelayApi } from '../../client/link/relay-api.ts';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';

const rec = (id: string, authorId = 'alice'): MessageRecord => ({ id, authorId, text: `text ${id}`, clientSentAt: 1 });
const canonical = (seq: number, id = `m${seq}`): CanonicalMessage => ({ ...rec(id), seq, sentAt: 1000 + seq, state: 'sent' });
let dbCount = 0;
const freshName = (what: string) => `${what}-${++dbCount}-${Math.random()}`;

/** A relay holding canonical messages 1..lastSeq; records every history request. */
function fakeRelay(lastSeq: number) {
  const all = Array.from({ length: lastSeq }, (_, i) => canonical(i + 1));
  const calls: string[] = [];
  const page = (messages: CanonicalMessage[]): MessagesPage => ({ messages, lastSeq, baseSeq: lastSeq, generation: 1 });
  const api = {
    async messagesAfter(_t: string, afterSeq: number, limit: number) {
      calls.push(`after ${afterSeq} ${limit}`);
      return page(all.filter((m) => m.seq > afterSeq).slice(0, limit));
    },
    async messagesBefore(_t: string, beforeSeq: number, limit: number) {
      calls.push(`before ${beforeSeq} ${limit}`);
      return page(all.filter((m) => m.seq < beforeSeq).slice(-limit));
    },
  } as unknown as RelayApi;
  return { api, calls };
}

describe('window rules (shared, pure)', () => {
  it('re-appends only pending records the relay and the new live document do not have, in order, once', () => {
    const records = [rec('a'), rec('p1'), rec('b'), rec('p2'), rec('p1'), rec('p3'), rec('p4')];
    const canon = new Set(['a', 'b']);
    const relay = new Set(['p2']); // sequenced just before the roll, canon never seen here
    const live = new Set(['p4']); // another tab rebased it already
    const out = recordsToReappend(records, (id) => canon.has(id), (id) => relay.has(id), (id) => live.has(id));
    expect(out.map((r) => r.id)).toEqual(['p1', 'p3']);
    expect(out[0]).toEqual(rec('p1')); // same record: same id, author, text, time
  });

  it('lists the missing seq ranges of a window, ascending', () => {
    expect(missingRanges([3, 4, 7, 10], 1, 12)).toEqual([
      { from: 1, to: 2 },
      { from: 5, to: 6 },
      { from: 8, to: 9 },
      { from: 11, to: 12 },
    ]);
    expect(missingRanges([1, 2, 3], 1, 3)).toEqual([]);
    expect(missingRanges([], 5, 4)).toEqual([]);
    expect(missingRanges([2, 2, 0, 99], 1, 3)).toEqual([
      { from: 1, to: 1 },
      { from: 3, to: 3 },
    ]);
  });
});

describe('history store (IndexedDB)', () => {
  it('stores compact records keyed [thread, seq]: ranges, newest pages, seqs by id, threads apart', async () => {
    const store = await HistoryStore.open(freshName('history'));
    await store.put('t1', [canonical(1), canonical(2), { ...canonical(3), replyTo: 'm1', atUri: 'at://x/y/z' }, canonical(5)]);
    await store.put('t2', [canonical(4, 'other')]);
    expect((await store.range('t1', 2, 4)).map((m) => m.seq)).toEqual([2, 3]);
    expect(await store.range('t1', 3, 3)).toEqual([{ ...canonical(3), replyTo: 'm1', atUri: 'at://x/y/z' }]);
    expect((await store.newest('t1', 6, 2)).map((m) => m.seq)).toEqual([3, 5]);
    expect((await store.newest('t1', 3, 10)).map((m) => m.seq)).toEqual([1, 2]);
    expect(await store.newest('t1', 1, 10)).toEqual([]);
    expect(await store.seqsOf('t1', ['m2', 'other', 'nope'])).toEqual(new Map([['m2', 2]]));
    store.close();
  });

  it('encodes a page and decodes it to the same messages: optional fields, receipts, any clocks', () => {
    const page: SealedMessage[] = [
      { ...canonical(256), replyTo: 'm1', atUri: 'at://did:plc:x/app/1', readBy: { bob: 5000, carol: 4000 } },
      { ...canonical(258), clientSentAt: 99_999, state: 'failed', error: 'REJECTED' }, // a clock ahead of the relay
      { ...canonical(300, 'm300'), text: 'ünïcødé 🧵 and "quotes"', sentAt: 1_700_000_000_000 },
    ];
    const bytes = encodePage(page);
    expect(decodePage(bytes)).toEqual(page);
    // The stored value is its own buffer (a view into a larger one would be stored whole).
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
    expect(mergePage(page, [{ ...canonical(257) }, { ...canonical(258), state: 'sent' }]).map((m) => [m.seq, m.state])).toEqual([
      [256, 'sent'],
      [257, 'sent'],
      [258, 'sent'],
      [300, 'sent'],
    ]);
  });

  it('reads and writes across cache pages: a write into a page keeps what it held, ranges and newest span pages', async () => {
    const store = await HistoryStore.open(freshName('history'));
    const edge = PAGE_SEQS; // the first seq of page 1
    await store.put('t', [canonical(edge - 3), canonical(edge - 2), canonical(edge - 1), canonical(edge), canonical(edge + 1), canonical(3 * edge)]);
    await store.put('t', [{ ...canonical(edge - 2), text: 'edited' }, canonical(edge + 2)]);
    expect((await store.range('t', edge - 2, edge + 1)).map((m) => [m.seq, m.text])).toEqual([
      [edge - 2, 'edited'],
      [edge - 1, `text m${edge - 1}`],
      [edge, `text m${edge}`],
      [edge + 1, `text m${edge + 1}`],
    ]);
    expect((await store.newest('t', 3 * edge + 1, 4)).map((m) => m.seq)).toEqual([edge, edge + 1, edge + 2, 3 * edge]);
    expect((await store.newest('t', edge + 1, 10)).map((m) => m.seq)).toEqual([edge - 3, edge - 2, edge - 1, edge]);
    store.close();
  });

  it('finds seqs by id through the pages\' id hashes, and a hash shared by two ids names only the right one', async () => {
    // Two ids with the same 32-bit hash, in different pages.
    expect(idHash('m763399')).toBe(idHash('m1109514'));
    const store = await HistoryStore.open(freshName('history'));
    await store.put('t', [canonical(10, 'm763399'), canonical(11)]);
    expect(await store.seqsOf('t', ['m1109514'])).toEqual(new Map());
    await store.put('t', [canonical(5 * PAGE_SEQS + 1, 'm1109514')]);
    expect(await store.seqsOf('t', ['m1109514', 'm763399', 'm11', 'm12'])).toEqual(
      new Map([
        ['m763399', 10],
        ['m11', 11],
        ['m1109514', 5 * PAGE_SEQS + 1],
      ]),
    );
    expect(await store.seqsOf('other', ['m11'])).toEqual(new Map());
    store.close();
  });

  it('drops a version-2 cache (a row per message) on open', async () => {
    const name = freshName('history');
    await new Promise<void>((resolve, reject) => {
      const open = indexedDB.open(name, 2);
      open.onupgradeneeded = () => {
        const m = open.result.createObjectStore('messages');
        m.createIndex('id', 'i', { unique: false });
        m.put({ i: 'old', a: 'alice', x: 'old', c: 1, at: 1, st: 'sent' }, [1, 1]);
        open.result.createObjectStore('threads').put(1, 't1');
      };
      open.onsuccess = () => (open.result.close(), resolve());
      open.onerror = () => reject(open.error);
    });
    const store = await HistoryStore.open(name);
    expect(await store.range('t1', 1, 10)).toEqual([]);
    expect(await store.seqsOf('t1', ['old'])).toEqual(new Map());
    await store.put('t1', [canonical(1)]);
    expect((await store.range('t1', 1, 10)).map((m) => m.id)).toEqual(['m1']);
    store.close();
  });

  it('keeps threads apart under their numbers across a reopen (another tab), and drops a version-1 cache', async () => {
    const name = freshName('history');
    // A cache of the first layout (the thread id inside every row and key).
    await new Promise<void>((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => {
        const s = open.result.createObjectStore('messages', { keyPath: ['t', 's'] });
        s.createIndex('id', ['t', 'i'], { unique: false });
        s.put({ t: 't1', s: 1, i: 'old', a: 'alice', x: 'old', c: 1, at: 1, st: 'sent' });
      };
      open.onsuccess = () => (open.result.close(), resolve());
      open.onerror = () => reject(open.error);
    });
    const a = await HistoryStore.open(name);
    expect(await a.range('t1', 1, 10)).toEqual([]);
    await Promise.all([a.put('t1', [canonical(1), canonical(2)]), a.put('t2', [canonical(1, 'x1'), canonical(2, 'x2')])]);
    a.close();
    const b = await HistoryStore.open(name);
    expect((await b.range('t1', 1, 2)).map((m) => m.id)).toEqual(['m1', 'm2']);
    expect((await b.newest('t2', 3, 5)).map((m) => m.id)).toEqual(['x1', 'x2']);
    expect(await b.seqsOf('t2', ['m1', 'x2'])).toEqual(new Map([['x2', 2]]));
    expect(await b.range('t3', 1, 2)).toEqual([]);
    await b.put('t3', [canonical(7)]);
    expect((await b.range('t3', 1, 9)).map((m) => m.seq)).toEqual([7]);
    expect((await b.range('t1', 1, 9)).map((m) => m.seq)).toEqual([1, 2]);
    b.close();
  });
});

describe('history window', () => {
  it('shows the newest page below baseSeq from IndexedDB, then the relay only for what is missing', async () => {
    const store = await HistoryStore.open(freshName('history'));
    await store.put('t', Array.from({ length: 10 }, (_, i) => canonical(91 + i))); // 91..100 cached
    const { api, calls } = fakeRelay(100);
    let changes = 0;
    const w = new HistoryWindow('t', async () => store, api, () => changes++);
    await w.setEnd(100, 5);
    expect(w.messages.map((m) => m.seq)).toEqual([96, 97, 98, 99, 100]);
    expect(calls).toEqual([]); // all from IndexedDB
    expect(await w.loadOlder(5)).toBe(5);
    expect(w.messages[0]!.seq).toBe(91);
    expect(calls).toEqual([]);
    // 81..90 are not cached: one relay request, down to the cache page's first seq (so the
    // page is written once, whole), stored as it arrives; the window takes the 10 it asked.
    expect(await w.loadOlder(10)).toBe(10);
    expect(calls).toEqual(['before 91 90']);
    expect((await store.range('t', 1, 90)).length).toBe(90);
    expect(w.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 81 + i));
    expect(w.hasOlder).toBe(true);
    expect(changes).toBe(4); // the end moved, then three pages
    store.close();
  });

  it('moving the end to a newer baseSeq fetches only the missing range (afterSeq), not all history', async () => {
    const store = await HistoryStore.open(freshName('history'));
    const { api, calls } = fakeRelay(40);
    await store.put('t', [canonical(29), canonical(30), canonical(33), canonical(34)]);
    const w = new HistoryWindow('t', async () => store, api, () => {});
    await w.setEnd(30, 2);
    expect(w.messages.map((m) => m.seq)).toEqual([29, 30]);
    await w.setEnd(36, 50);
    expect(calls).toEqual(['after 30 2', 'after 34 2']);
    expect(w.messages.map((m) => m.seq)).toEqual([29, 30, 31, 32, 33, 34, 35, 36]);
    store.close();
  });

  it('paging back mixes what IndexedDB holds with the relay below it, asking only for the seqs it lacks', async () => {
    const store = await HistoryStore.open(freshName('history'));
    await store.put('t', Array.from({ length: 20 }, (_, i) => canonical(581 + i))); // 581..600 cached
    const { api, calls } = fakeRelay(600);
    const w = new HistoryWindow('t', async () => store, api, () => {});
    await w.setEnd(600, 10);
    expect(await w.loadOlder(30)).toBe(30); // 10 from IndexedDB, 20 from the relay below 581
    expect(w.messages.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 561 + i));
    // Below 581, down to the first seq of cache page 2 (512..767): 69 seqs, not 30 or 50.
    expect(calls).toEqual(['before 581 69']);
    expect((await store.range('t', 512, 600)).length).toBe(89);
    store.close();
  });

  it('offline with nothing cached: stays empty and says older messages exist', async () => {
    const failing = { messagesBefore: () => Promise.reject(new Error('offline')), messagesAfter: () => Promise.reject(new Error('offline')) } as unknown as RelayApi;
    const store = await HistoryStore.open(freshName('history'));
    const w = new HistoryWindow('t', async () => store, failing, () => {});
    await w.setEnd(10, 5);
    expect(w.messages).toEqual([]);
    expect(w.hasOlder).toBe(true);
    expect(await w.loadOlder(5)).toBe(0);
    store.close();
  });
});

describe('render cache', () => {
  it('paging older messages in (a new list, the same newest messages) does not write it again', async () => {
    const store = await LocalStore.open(freshName('local'));
    const writes: unknown[] = [];
    const put = store.put.bind(store);
    store.put = (s, k, v) => (writes.push(v), put(s, k, v));
    const msg = (seq: number): ViewMessage => ({ ...canonical(seq), mine: false }) as unknown as ViewMessage;
    let list = Array.from({ length: 300 }, (_, i) => msg(i + 701));
    const w = new RenderWindow(store, 't', () => list);
    await w.save();
    list = Array.from({ length: 500 }, (_, i) => msg(i + 501)); // 200 older paged in
    await w.save();
    expect(writes.length).toBe(1);
    list = [...list, msg(1001)];
    await w.save();
    expect(writes.length).toBe(2);
    expect((await w.load())!.map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, i) => 802 + i));
  });
});

describe('rebase between generations', () => {
  it('moves pending work of a sealed copy into the new live document once, and its known history into the store', async () => {
    const awareness = new awarenessProtocol.Awareness(new Y.Doc());
    const base = freshName('thread');
    const old = new LiveGeneration({ generation: 0, baseSeq: 0, liveDoc: 't' }, base, `${base}:tabs`, awareness);
    await old.loaded;
    old.doc.transact(() => {
      old.roots.messages.insert(0, [rec('a', 'bob'), rec('b', 'bob'), rec('p1'), rec('p2'), rec('p3')]);
      old.roots.canon.set('a', { seq: 1, sentAt: 1, state: 'sent' });
      old.roots.canon.set('b', { seq: 2, sentAt: 2, state: 'sent' });
      old.roots.receipts.set('b|alice', { readAt: 50 });
      old.roots.receipts.set('a|alice', { readAt: 40 });
    });
    const next = new LiveGeneration({ generation: 1, baseSeq: 4, liveDoc: 't~1' }, base, `${base}:tabs`, awareness);
    await next.loaded;
    next.doc.transact(() => next.roots.messages.insert(0, [rec('p3')])); // another tab's rebase got here first
    const store = await HistoryStore.open(freshName('history'));
    // The relay sequenced bob's c (3) and alice's p2 (4) before the roll.
    const relay = {
      async messagesAfter(_t: string, afterSeq: number) {
        return { messages: [{ ...rec('c', 'bob'), seq: 3, sentAt: 3, state: 'sent' }, { ...rec('p2'), seq: 4, sentAt: 4, state: 'sent' }].filter((m) => m.seq > afterSeq), lastSeq: 4 };
      },
    } as unknown as RelayApi;
    const w = new HistoryWindow('t', async () => store, relay, () => {});
    const plan = await prepareRebase(old, next, w, 0);
    const appended = applyRebase(old, next, plan, 'alice', 'test');
    expect(appended.map((r) => r.id)).toEqual(['p1']);
    expect(next.roots.messages.toArray().map((r) => r.id)).toEqual(['p3', 'p1']);
    expect(next.roots.receipts.get('b|alice')).toEqual({ readAt: 50 }); // the newest receipt carried
    expect((await store.range('t', 1, 4)).map((m) => m.id)).toEqual(['a', 'b', 'c', 'p2']);
    // Done again (a crash before the old copy was dropped): nothing more is appended.
    expect(applyRebase(old, next, await prepareRebase(old, next, w, 0), 'alice', 'test')).toEqual([]);
    await old.dispose();
    await next.dispose();
    store.close();
  });
});
