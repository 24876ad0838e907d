/**
 * Sealed history cached in IndexedDB: canonical messages of a thread's sealed generations,
 * one record per message keyed `[threadId, seq]` (docs/design/windowed-threads.md). Plain,
 * compact JSON (short field names): no Yjs metadata, so a message costs about its text.
 * One database per (relay, user), shared by all its threads.
 */
import type { CanonicalMessage } from '../shared/api-types.ts';

const STORE = 'messages';

/** A sealed message as cached: canonical, with who read it (user → readAt) when known. */
export interface SealedMessage extends CanonicalMessage {
  readBy?: Record<string, number>;
}

/** A stored message: short keys keep the bytes at rest down. */
interface Row {
  t: string;
  s: number;
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

function toRow(threadId: string, m: SealedMessage): Row {
  const r: Row = { t: threadId, s: m.seq, i: m.id, a: m.authorId, x: m.text, c: m.clientSentAt, at: m.sentAt, st: m.state };
  if (m.replyTo !== undefined) r.r = m.replyTo;
  if (m.atUri !== undefined) r.u = m.atUri;
  if (m.error !== undefined) r.e = m.error;
  if (m.readBy) r.rb = m.readBy;
  return r;
}

function fromRow(r: Row): SealedMessage {
  const m: SealedMessage = { id: r.i, authorId: r.a, text: r.x, clientSentAt: r.c, seq: r.s, sentAt: r.at, state: r.st };
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
  private constructor(
    readonly name: string,
    private readonly db: IDBDatabase,
  ) {}

  static async open(name: string): Promise<HistoryStore> {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      const s = open.result.createObjectStore(STORE, { keyPath: ['t', 's'] });
      s.createIndex('id', ['t', 'i'], { unique: false });
    };
    return new HistoryStore(name, await req(open));
  }

  /** Stores canonical messages (a message already stored under its seq is overwritten: same data). */
  async put(threadId: string, messages: readonly SealedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const tx = this.db.transaction([STORE], 'readwrite');
    const s = tx.objectStore(STORE);
    for (const m of messages) s.put(toRow(threadId, m));
    await done(tx);
  }

  /** Messages with `from <= seq <= to`, ascending. */
  async range(threadId: string, from: number, to: number): Promise<SealedMessage[]> {
    if (to < from) return [];
    const tx = this.db.transaction([STORE], 'readonly');
    const rows = await req(tx.objectStore(STORE).getAll(IDBKeyRange.bound([threadId, from], [threadId, to])));
    return (rows as Row[]).map(fromRow);
  }

  /** The newest `limit` messages with `seq < below`, ascending. */
  async newest(threadId: string, below: number, limit: number): Promise<SealedMessage[]> {
    if (limit <= 0 || below <= 1) return [];
    const tx = this.db.transaction([STORE], 'readonly');
    const range = IDBKeyRange.bound([threadId, 0], [threadId, Math.min(below, MAX_SEQ)], false, true);
    const out: SealedMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const cur = tx.objectStore(STORE).openCursor(range, 'prev');
      cur.onerror = () => reject(cur.error);
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c || out.length >= limit) return resolve();
        out.push(fromRow(c.value as Row));
        c.continue();
      };
    });
    return out.reverse();
  }

  /** Seqs of the given message ids that are stored (receipts naming old messages). */
  async seqsOf(threadId: string, ids: Iterable<string>): Promise<Map<string, number>> {
    const tx = this.db.transaction([STORE], 'readonly');
    const index = tx.objectStore(STORE).index('id');
    const out = new Map<string, number>();
    await Promise.all(
      [...ids].map(async (id) => {
        const r = (await req(index.get([threadId, id]))) as Row | undefined;
        if (r) out.set(id, r.s);
      }),
    );
    return out;
  }

  close(): void {
    this.db.close();
  }
}
