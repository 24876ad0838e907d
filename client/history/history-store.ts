/**
 * Sealed history cached in IndexedDB: canonical messages of a thread's sealed generations
 * (docs/design/windowed-threads.md), in pages of `PAGE_SEQS` seqs, each one compressed value
 * keyed `[n, page]` with `n` a small number per thread (store `threads`). A page's id hashes
 * are stored apart (store `ids`): a lookup by id reads them, not the text, and needs no index
 * entry per message. Version 2 (one row and one id-index entry per message) cost ~238 B/msg
 * on disk; see `npm run bench -- idb-bytes`. One database per (relay, user), shared by all
 * its threads.
 */
import { type SealedMessage, decodePage, encodePage, idHash, mergePage, pageIdHashes, pageOf } from './history-page.ts';

export type { SealedMessage } from './history-page.ts';

const PAGES = 'pages';
/** Page key → Uint32Array of the id hashes of its messages. */
const IDS = 'ids';
/** Thread id → the number that stands for it in page keys. */
const THREADS = 'threads';
const VERSION = 3;

type Key = [thread: number, page: number];

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

const MAX_PAGE = Number.MAX_SAFE_INTEGER;

export class HistoryStore {
  /** Thread numbers known to this tab (they never change once given). */
  private readonly numbers = new Map<string, number>();

  private constructor(
    readonly name: string,
    private readonly db: IDBDatabase,
  ) {}

  static async open(name: string): Promise<HistoryStore> {
    const open = indexedDB.open(name, VERSION);
    open.onupgradeneeded = () => {
      // Earlier versions stored a row per message: a cache, so it is dropped and refetched.
      const db = open.result;
      for (const s of Array.from(db.objectStoreNames)) db.deleteObjectStore(s);
      for (const s of [PAGES, IDS, THREADS]) db.createObjectStore(s);
    };
    return new HistoryStore(name, await req(open));
  }

  /** The thread's number; with `tx` (read-write), one is given when it has none yet. */
  private async numberOf(threadId: string, tx?: IDBTransaction): Promise<number | undefined> {
    const known = this.numbers.get(threadId);
    if (known !== undefined) return known;
    const threads = (tx ?? this.db.transaction([THREADS], 'readonly')).objectStore(THREADS);
    let n = (await req(threads.get(threadId))) as number | undefined;
    if (n === undefined && tx) {
      // Read-write transactions on a store run one at a time, across tabs too: no two threads get one number.
      n = (await req(threads.count())) + 1;
      threads.put(n, threadId);
    }
    if (n !== undefined) this.numbers.set(threadId, n);
    return n;
  }

  /**
   * Deletes every cached page of a thread (the user was removed from it). The thread keeps its
   * number: numbers are never reused (a new one is the count of known threads plus one).
   */
  async dropThread(threadId: string): Promise<void> {
    const n = await this.numberOf(threadId);
    if (n === undefined) return;
    const tx = this.db.transaction([PAGES, IDS], 'readwrite');
    const range = IDBKeyRange.bound([n, 0], [n, MAX_PAGE]);
    tx.objectStore(PAGES).delete(range);
    tx.objectStore(IDS).delete(range);
    await done(tx);
  }

  /** Stores canonical messages (a message already stored under its seq is overwritten: same data). */
  async put(threadId: string, messages: readonly SealedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const byPage = new Map<number, SealedMessage[]>();
    for (const m of messages) {
      const list = byPage.get(pageOf(m.seq));
      if (list) list.push(m);
      else byPage.set(pageOf(m.seq), [m]);
    }
    // One read-write transaction: tabs writing the same page take turns, none loses the other's.
    const tx = this.db.transaction([PAGES, IDS, THREADS], 'readwrite');
    const n = (await this.numberOf(threadId, tx))!;
    const pages = tx.objectStore(PAGES);
    const ids = tx.objectStore(IDS);
    await Promise.all(
      [...byPage].map(async ([p, incoming]) => {
        const key: Key = [n, p];
        const stored = (await req(pages.get(key))) as Uint8Array | undefined;
        const page = mergePage(stored ? decodePage(stored) : [], incoming);
        pages.put(encodePage(page), key);
        ids.put(pageIdHashes(page), key);
      }),
    );
    await done(tx);
  }

  /** Messages with `from <= seq <= to`, ascending. */
  async range(threadId: string, from: number, to: number): Promise<SealedMessage[]> {
    if (to < from) return [];
    const n = await this.numberOf(threadId);
    if (n === undefined) return [];
    const tx = this.db.transaction([PAGES], 'readonly');
    const stored = (await req(tx.objectStore(PAGES).getAll(IDBKeyRange.bound([n, pageOf(from)], [n, pageOf(to)])))) as Uint8Array[];
    return stored.flatMap((b) => decodePage(b).filter((m) => m.seq >= from && m.seq <= to));
  }

  /** The newest `limit` messages with `seq < below`, ascending. */
  async newest(threadId: string, below: number, limit: number): Promise<SealedMessage[]> {
    if (limit <= 0 || below <= 1) return [];
    const n = await this.numberOf(threadId);
    if (n === undefined) return [];
    const tx = this.db.transaction([PAGES], 'readonly');
    const range = IDBKeyRange.bound([n, 0], [n, pageOf(Math.min(below - 1, MAX_PAGE))]);
    const out: SealedMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const cur = tx.objectStore(PAGES).openCursor(range, 'prev');
      cur.onerror = () => reject(cur.error);
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c) return resolve();
        const page = decodePage(c.value as Uint8Array);
        for (let k = page.length - 1; k >= 0 && out.length < limit; k--) if (page[k]!.seq < below) out.push(page[k]!);
        if (out.length >= limit) return resolve();
        c.continue();
      };
    });
    return out.reverse();
  }

  /** Seqs of the given message ids that are stored (receipts naming old messages). */
  async seqsOf(threadId: string, wanted: Iterable<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const n = await this.numberOf(threadId);
    if (n === undefined) return out;
    const byHash = new Map<number, string[]>();
    for (const id of wanted) byHash.set(idHash(id), [...(byHash.get(idHash(id)) ?? []), id]);
    if (byHash.size === 0) return out;
    const tx = this.db.transaction([PAGES, IDS], 'readonly');
    const all = IDBKeyRange.bound([n, 0], [n, MAX_PAGE]);
    const ids = tx.objectStore(IDS);
    const [keys, hashes] = await Promise.all([req(ids.getAllKeys(all)), req(ids.getAll(all))]);
    // Pages that hold one of the hashes; a hash can collide, so the page itself decides.
    const candidates = keys.filter((_, k) => (hashes[k] as Uint32Array).some((h) => byHash.has(h)));
    const pages = tx.objectStore(PAGES);
    await Promise.all(
      candidates.map(async (key) => {
        const stored = (await req(pages.get(key))) as Uint8Array | undefined;
        for (const m of stored ? decodePage(stored) : []) if (byHash.get(idHash(m.id))?.includes(m.id)) out.set(m.id, m.seq);
      }),
    );
    return out;
  }

  close(): void {
    this.db.close();
  }
}
