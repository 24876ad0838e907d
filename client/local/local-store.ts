/**
 * The SDK's own small IndexedDB database per (relay, user): the cached thread list and
 * capabilities, last sync times, send-queue bookkeeping, failed-sync diagnostics and the
 * names of the per-thread document databases (so that sign-out can delete them all).
 * Message content lives only in the per-thread Yjs databases.
 */
import * as idb from 'lib0/indexeddb';

const STORES = ['kv', 'outbox', 'diagnostics', 'docs'] as const;
type StoreName = (typeof STORES)[number];

/** Database name prefix shared by everything the SDK stores for one relay and user. */
export function dbPrefix(relayOrigin: string, userId: string): string {
  return `skein:${relayOrigin}:${encodeURIComponent(userId)}`;
}

export class LocalStore {
  private constructor(
    readonly name: string,
    private readonly db: IDBDatabase,
  ) {}

  static async open(name: string): Promise<LocalStore> {
    const db = await idb.openDB(name, (db) => idb.createStores(db, STORES.map((s) => [s])));
    return new LocalStore(name, db);
  }

  async get<T>(store: StoreName, key: string): Promise<T | undefined> {
    const [s] = idb.transact(this.db, [store], 'readonly');
    return (await idb.get(s!, key)) as T | undefined;
  }

  async put(store: StoreName, key: string, value: unknown): Promise<void> {
    const [s] = idb.transact(this.db, [store]);
    await idb.put(s!, value as any, key);
  }

  async del(store: StoreName, key: string): Promise<void> {
    const [s] = idb.transact(this.db, [store]);
    await idb.del(s!, key);
  }

  /** Every entry of `store`, or only those whose key starts with `prefix`. */
  async entries<T>(store: StoreName, prefix?: string): Promise<Array<[string, T]>> {
    const [s] = idb.transact(this.db, [store], 'readonly');
    // Every key starting with `prefix` sorts below `prefix` followed by the highest code unit.
    const range = prefix === undefined ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`);
    const kv = await idb.getAllKeysValues(s!, range);
    return kv.map(({ k, v }: { k: any; v: any }) => [String(k), v as T]);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * Resolves once every readwrite transaction already created on `storeName` of `db`
 * has committed: IndexedDB runs readwrite transactions with overlapping scopes in
 * creation order, so ours completes only after theirs.
 */
export function afterPendingWrites(db: IDBDatabase, storeName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction([storeName], 'readwrite', { durability: 'strict' });
    tx.objectStore(storeName).count();
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** Deletes a database; resolves also when it is blocked (it is deleted once others close). */
export function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}
