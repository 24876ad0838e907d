/**
 * A loaded thread: the relay's Y.Doc, its awareness, and its connections.
 *
 * Incoming updates are queued and flushed once per event-loop turn: all updates of a
 * turn are applied, committed in one storage transaction that also assigns seqs, and
 * only then forwarded to the other peers, followed by the relay's canon update.
 */
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { CloseCode } from '../shared/errors.ts';
import {
  type CanonInfo,
  type MessageRecord,
  type ThreadRoots,
  threadRoots,
  validateMessageRecord,
} from '../shared/schema.ts';
import type { Logger } from './logger.ts';
import type { MessageCandidate, Store, StoredMessage, ThreadRow } from './store/store.ts';
import { SyncConnection } from './sync-connection.ts';
import { encodeAwareness, encodeUpdate } from './sync-protocol.ts';

/** Transaction origin of changes the relay itself makes (canon, meta). */
export const RELAY_ORIGIN = Symbol('skein-relay');
/** Transaction origin while replaying the stored log. */
const LOAD_ORIGIN = Symbol('skein-load');

export interface ThreadRoomOptions {
  compactAfterUpdates: number;
  maxTextLength: number;
  /** Called after a commit stored new `sent` messages in a mirrored thread (outbox rows exist). */
  onMirroredCommit?: (threadId: string) => void;
}

interface Pending {
  conn: SyncConnection;
  update: Uint8Array;
}

/** Canon entry the relay publishes for a stored message. */
export function canonOf(m: StoredMessage): CanonInfo {
  const c: CanonInfo = { seq: m.seq, sentAt: m.sentAt, state: m.state };
  if (m.atUri) c.atUri = m.atUri;
  if (m.atCid) c.atCid = m.atCid;
  if (m.error) c.error = m.error;
  return c;
}

const sameCanon = (a: CanonInfo | undefined, b: CanonInfo): boolean =>
  !!a && a.seq === b.seq && a.sentAt === b.sentAt && a.state === b.state &&
  a.atUri === b.atUri && a.atCid === b.atCid && a.error === b.error;

export class ThreadRoom {
  readonly doc = new Y.Doc();
  readonly roots: ThreadRoots = threadRoots(this.doc);
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  readonly conns = new Set<SyncConnection>();
  /** Called when the last connection leaves. */
  onEmpty: (room: ThreadRoom) => void = () => {};
  /** Called when the room can no longer be trusted (storage failed) and must be dropped. */
  onBroken: (room: ThreadRoom) => void = () => {};

  private queue: Pending[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private collecting: { produced: Pending[]; candidates: MessageCandidate[] } | null = null;
  private logRows = 0;
  /**
   * Relay-authored updates (canon, meta) not yet stored. They are derivable from the
   * store (repairCanon, syncMeta), so they ride along with the next commit instead of
   * costing an fsync each; a timer bounds how long they wait when no commit comes.
   */
  private relayUpdates: Uint8Array[] = [];
  private relayTimer: NodeJS.Timeout | null = null;

  private constructor(
    public thread: ThreadRow,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: ThreadRoomOptions,
  ) {
    this.awareness.setLocalState(null);
    this.doc.on('update', this.onDocUpdate);
    this.doc.on('afterTransaction', this.onAfterTransaction);
    this.awareness.on('update', this.onAwarenessUpdate);
  }

  get id(): string {
    return this.thread.id;
  }

  /** Loads a thread's log into a fresh document and repairs canon/meta from the store. */
  static async load(thread: ThreadRow, store: Store, log: Logger, opts: ThreadRoomOptions): Promise<ThreadRoom> {
    const room = new ThreadRoom(thread, store, log, opts);
    const { updates } = await store.loadUpdates(thread.id);
    room.logRows = updates.length;
    room.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(room.doc, u, LOAD_ORIGIN);
    }, LOAD_ORIGIN);
    room.syncMeta(thread);
    await room.repairCanon();
    return room;
  }

  /** Writes thread metadata into `meta` where it differs from the store. */
  syncMeta(thread: ThreadRow): void {
    this.thread = thread;
    const meta = this.roots.meta;
    const want: Record<string, unknown> = {
      title: thread.title,
      participants: thread.participants,
      archived: thread.archived,
      createdAt: thread.createdAt,
      mirror: thread.mirror,
    };
    const changed = Object.entries(want).filter(([k, v]) => JSON.stringify(meta.get(k)) !== JSON.stringify(v));
    if (changed.length === 0) return;
    this.doc.transact(() => {
      for (const [k, v] of changed) meta.set(k, v);
    }, RELAY_ORIGIN);
  }

  /**
   * Makes `canon` agree with the stored messages. A crash between a commit and the
   * canon update leaves canon behind; the store is the truth.
   */
  async repairCanon(): Promise<void> {
    const canon = this.roots.canon;
    const fixes: StoredMessage[] = [];
    const page = 5000;
    for (let after = 0; ; ) {
      const rows = await this.store.listMessages(this.id, after, page);
      for (const m of rows) if (!sameCanon(canon.get(m.id), canonOf(m))) fixes.push(m);
      if (rows.length < page) break;
      after = rows[rows.length - 1]!.seq;
    }
    if (fixes.length) this.publishCanon(fixes);
  }

  /** Writes canon entries for stored messages (relay-authored, persisted, sent to all). */
  publishCanon(messages: StoredMessage[]): void {
    if (messages.length === 0) return;
    this.doc.transact(() => {
      for (const m of messages) this.roots.canon.set(m.id, canonOf(m));
    }, RELAY_ORIGIN);
  }

  join(conn: SyncConnection): void {
    this.conns.add(conn);
    conn.attach(this);
  }

  leave(conn: SyncConnection): void {
    if (!this.conns.delete(conn)) return;
    if (conn.awarenessIds.size) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [...conn.awarenessIds], conn);
    }
    if (this.conns.size === 0) this.onEmpty(this);
  }

  receiveUpdate(conn: SyncConnection, update: Uint8Array): void {
    this.queue.push({ conn, update });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.chain = this.chain.then(() => this.flush());
    });
  }

  receiveAwareness(conn: SyncConnection, update: Uint8Array): void {
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, conn);
    } catch {
      conn.close(CloseCode.MALFORMED, 'malformed awareness update');
    }
  }

  sendAwarenessStates(conn: SyncConnection): void {
    const ids = [...this.awareness.getStates().keys()];
    if (ids.length) conn.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)));
  }

  /** Resolves once every queued update has been committed and forwarded. */
  async idle(): Promise<void> {
    while (this.scheduled || this.queue.length) await new Promise((r) => setImmediate(r));
    await this.chain;
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const collecting: { produced: Pending[]; candidates: MessageCandidate[] } = { produced: [], candidates: [] };
    this.collecting = collecting;
    try {
      for (const p of batch) {
        try {
          Y.applyUpdate(this.doc, p.update, p.conn);
        } catch {
          p.conn.close(CloseCode.MALFORMED, 'undecodable update');
        }
      }
    } finally {
      this.collecting = null;
    }
    const { produced, candidates } = collecting;
    if (produced.length === 0) return;
    let stored: StoredMessage[];
    const relayUpdates = this.takeRelayUpdates();
    try {
      stored = await this.store.commitMessages(this.id, [...relayUpdates, ...produced.map((p) => p.update)], candidates, Date.now());
    } catch (err) {
      this.log.error({ event: 'commit_failed', threadId: this.id, err: String(err) }, 'storage commit failed');
      for (const c of [...this.conns]) c.close(CloseCode.STORAGE_FAILURE, 'storage failure');
      this.onBroken(this);
      return;
    }
    this.logRows += produced.length + relayUpdates.length;
    for (const p of produced) {
      const frame = encodeUpdate(p.update);
      for (const c of this.conns) if (c !== p.conn) c.send(frame);
    }
    this.publishCanon(stored);
    if (this.thread.mirror && stored.some((m) => m.state === 'sent')) this.opts.onMirroredCommit?.(this.id);
    if (this.logRows > this.opts.compactAfterUpdates) await this.compact();
  }

  /** Replaces the stored log with one snapshot of the current document. */
  async compact(): Promise<void> {
    this.takeRelayUpdates();
    const before = this.logRows;
    await this.store.compact(this.id, Y.encodeStateAsUpdate(this.doc));
    this.logRows = 1;
    this.log.debug({ event: 'log_compacted', threadId: this.id, rows: before }, 'update log compacted');
  }

  private takeRelayUpdates(): Uint8Array[] {
    if (this.relayTimer) clearTimeout(this.relayTimer);
    this.relayTimer = null;
    const u = this.relayUpdates;
    this.relayUpdates = [];
    return u.length > 1 ? [Y.mergeUpdates(u)] : u;
  }

  private async storeRelayUpdates(): Promise<void> {
    const updates = this.takeRelayUpdates();
    if (updates.length === 0) return;
    try {
      for (const u of updates) await this.store.appendUpdate(this.id, u);
      this.logRows += updates.length;
    } catch (err) {
      this.log.error({ event: 'append_failed', threadId: this.id, err: String(err) }, 'storing relay update failed');
    }
  }

  private onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOAD_ORIGIN) return;
    if (origin instanceof SyncConnection) {
      this.collecting?.produced.push({ conn: origin, update });
      return;
    }
    // Relay-authored change: store with the next commit (or soon), send to every peer now.
    this.relayUpdates.push(update);
    this.relayTimer ??= setTimeout(() => void this.storeRelayUpdates(), 250);
    const frame = encodeUpdate(update);
    for (const c of this.conns) c.send(frame);
  };

  /** Finds message records newly integrated by a peer's transaction. */
  private onAfterTransaction = (tr: Y.Transaction): void => {
    if (!(tr.origin instanceof SyncConnection) || !this.collecting) return;
    const messages = this.roots.messages;
    const structsByClient = this.doc.store.clients;
    tr.afterState.forEach((clock, client) => {
      const before = tr.beforeState.get(client) ?? 0;
      if (clock <= before) return;
      const structs = structsByClient.get(client);
      if (!structs) return;
      for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
        const s = structs[i];
        if (!(s instanceof Y.Item) || s.parent !== messages || s.deleted || s.id.clock < before) continue;
        if (!(s.content instanceof Y.ContentAny)) continue;
        for (const value of s.content.arr) this.addCandidate(value);
      }
    });
  };

  private addCandidate(value: unknown): void {
    if (!validateMessageRecord(value, this.opts.maxTextLength).ok) return;
    const record = value as MessageRecord;
    this.collecting!.candidates.push({ record, state: 'sent' });
  }

  private onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin instanceof SyncConnection) {
      for (const id of added.concat(updated)) origin.awarenessIds.add(id);
      for (const id of removed) origin.awarenessIds.delete(id);
    }
    const changed = added.concat(updated, removed);
    const frame = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed));
    for (const c of this.conns) c.send(frame);
  };

  /** Waits for pending work, compacts, and frees the document. */
  async unload(): Promise<void> {
    await this.idle();
    if (this.logRows > 1 || this.relayUpdates.length) await this.compact();
    this.awareness.destroy();
    this.doc.destroy();
  }
}
