/**
 * Sealed history cached in IndexedDB: canonical messages of a thread's sealed generations,
 * one record per message keyed `[threadId, seq]` (docs/design/windowed-threads.md). Plain,
 * compact values (short field names): no Yjs metadata, so a message costs about its text.
 * Keys are `[n, seq]` with `n` a small number per thread (store `threads`), kept out of the
 * value, and the id index names the id alone: the thread id is not repeated per message
 * (it was three times: value, key and index; `npm run bench -- idb-bytes`).
 * One database per (relay, user), shared by all its threads.
 */
import type { CanonicalMessage } from '../shared/api-types.ts';

const STORE = 'messages';
/** Thread id → the number that stands for it in message keys. */
const THREADS = 'threads';

/** A sealed message as cached: canonical, with who read it (user → readAt) when known. */
export interface SealedMessage extends CanonicalMessage {
  readBy?: Record<string, number>;
}

/** A stored message (its key is `[threadId, seq]`): short field names keep the bytes at rest down. */
interface Row {
  i: string;
  a: string;
  x: string;
  c: number;
  at: number;
  st: CanonicalMessage['state'];
  r?: string;
  u?: string;
  e?: string;
  /** Folded receipts: user → readAt. */
  rb?: Record<string, number>;
}

function toRow(m: SealedMessage): Row {
  const r: Row = { i: m.id, a: m.authorId, x: m.text, c: m.clientSentAt, at: m.sentAt, st: m.state };
  if (m.replyTo !== undefined) r.r = m.replyTo;
  if (m.atUri !== undefined) r.u = m.atUri;
  if (m.error !== undefined) r.e = m.error;
  if (m.readBy) r.rb = m.readBy;
  return r;
}

type Key = [thread: number, seq: number];

function fromRow(r: Row, key: IDBValidKey): SealedMessage {
  const m: SealedMessage = { id: r.i, authorId: r.a, text: r.x, clientSentAt: r.c, seq: (key as Key)[1], sentAt: r.at, state: r.st };
  if (r.r !== undefined) m.replyTo = r.r;
  if (r.u !== undefined) m.atUri = r.u;
  if (r.e !== undefined) m.error = r.e;
  if (r.rb !== undefined) m.readBy = r.rb;
  return m;
}

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

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export class HistoryStore {
  /** Thread numbers known to this tab (they never change once given). */
  private readonly numbers = new Map<string, number>();

  private constructor(
    readonly name: string,
    private readonly db: IDBDatabase,
  ) {}

  static async open(name: string): Promise<HistoryStore> {
    const open = indexedDB.open(name, 2);
    open.onupgradeneeded = () => {
      // Version 1 kept the thread id in every row and key: a cache, so it is dropped and refetched.
      const db = open.result;
      for (const s of [STORE, THREADS]) if (db.objectStoreNames.contains(s)) db.deleteObjectStore(s);
      db.createObjectStore(STORE).createIndex('id', 'i', { unique: false });
      db.createObjectStore(THREADS);
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

  /** Stores canonical messages (a message already stored under its seq is overwritten: same data). */
  async put(threadId: string, messages: readonly SealedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const tx = this.db.transaction([STORE, THREADS], 'readwrite');
    const n = (await this.numberOf(threadId, tx))!;
    const s = tx.objectStore(STORE);
    for (const m of messages) s.put(toRow(m), [n, m.seq] satisfies Key);
    await done(tx);
  }

  /** Messages with `from <= seq <= to`, ascending. */
  async range(threadId: string, from: number, to: number): Promise<SealedMessage[]> {
    if (to < from) return [];
    const n = await this.numberOf(threadId);
    if (n === undefined) return [];
    const tx = this.db.transaction([STORE], 'readonly');
    const range = IDBKeyRange.bound([n, from], [n, to]);
    const store = tx.objectStore(STORE);
    // Same range, same transaction: the keys and the values come in the same order.
    const [keys, rows] = await Promise.all([req(store.getAllKeys(range)), req(store.getAll(range))]);
    return (rows as Row[]).map((r, i) => fromRow(r, keys[i]!));
  }

  /** The newest `limit` messages with `seq < below`, ascending. */
  async newest(threadId: string, below: number, limit: number): Promise<SealedMessage[]> {
    if (limit <= 0 || below <= 1) return [];
    const n = await this.numberOf(threadId);
    if (n === undefined) return [];
    const tx = this.db.transaction([STORE], 'readonly');
    const range = IDBKeyRange.bound([n, 0], [n, Math.min(below, MAX_SEQ)], false, true);
    const out: SealedMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const cur = tx.objectStore(STORE).openCursor(range, 'prev');
      cur.onerror = () => reject(cur.error);
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c || out.length >= limit) return resolve();
        out.push(fromRow(c.value as Row, c.primaryKey));
        c.continue();
      };
    });
    return out.reverse();
  }

  /** Seqs of the given message ids that are stored (receipts naming old messages). */
  async seqsOf(threadId: string, ids: Iterable<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const n = await this.numberOf(threadId);
    if (n === undefined) return out;
    const tx = this.db.transaction([STORE], 'readonly');
    const index = tx.objectStore(STORE).index('id');
    await Promise.all(
      [...ids].map(async (id) => {
        // Ids are ULIDs, unique across threads; the key says which thread holds it.
        for (const key of (await req(index.getAllKeys(id))) as Key[]) if (key[0] === n) out.set(id, key[1]);
      }),
    );
    return out;
  }

  close(): void {
    this.db.close();
  }
}
