/**
 * One open thread: its Yjs document persisted in IndexedDB (y-indexeddb), shared with the
 * other tabs (TabChannel), synced with the relay by the leader tab (y-websocket), and
 * presented as ordered messages with statuses, receipts, presence and a sync state.
 */
import * as encoding from 'lib0/encoding';
import { monotonicFactory } from 'ulid';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import { IndexeddbPersistence } from 'y-indexeddb';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { CloseCode, isPermanentClose } from '../shared/errors.ts';
import { type OrderedMessage, displayOrder } from '../shared/ordering.ts';
import { validateSequence } from '../shared/sequence-validation.ts';
import { type CanonInfo, DEFAULT_MAX_TEXT_LENGTH, type MessageRecord, type ThreadRoots, parseRemoteAuthorId, threadRoots, validateMessageRecord } from '../shared/schema.ts';
import { afterPendingWrites, type LocalStore } from './local-store.ts';
import { type StreamHandle, type ViewStream, listStreams, startStream, streamLimitsOf } from './stream.ts';
import { type ReadInfo, type ReceiptIndex, indexReceipts, unreadCount, writeReceipt } from './receipts.ts';
import type { Capabilities, RelayApi } from './relay-api.ts';
import type { SendQueue } from './send-queue.ts';
import { type StatusInfo, deriveStatus } from './status.ts';
import { type Connection, type SyncEvent, type SyncState, initialSyncState, nextSyncState } from './sync-state.ts';
import { type LeaderStatus, TAB_ORIGIN, TabChannel } from './tab-channel.ts';
import { type Leadership, electLeader } from './tab-leader.ts';
import type { TelemetryHook } from './telemetry.ts';
import type { ThreadList } from './thread-list.ts';

/** Transaction origin of this tab's own edits. */
const LOCAL_ORIGIN = Symbol('skein-local');
const nextId = monotonicFactory();

/** A message as the app renders it. */
export interface ViewMessage extends StatusInfo {
  id: string;
  authorId: string;
  text: string;
  clientSentAt: number;
  replyTo?: string;
  /** Canonical position and relay time, once the relay has it. */
  seq?: number;
  sentAt?: number;
  /** Written by the signed-in user. */
  mine: boolean;
  /**
   * Set when the message came in from AT (ingested from another repo): the author's name
   * there and the DID of the repo it was written in. Show it, so a remote "alice" is never
   * mistaken for the local one.
   */
  origin?: { name: string; did: string };
}

export interface ThreadMetaView {
  title: string;
  participants: string[];
  archived: boolean;
  mirror: boolean;
  createdAt: number;
  /** The thread's at:// identity when it is shared through AT: another relay follows it by this URI. */
  atUri: string | null;
}

/** What other members are doing right now (awareness; never persisted or mirrored). */
export interface PresenceEntry {
  clientId: number;
  userId: string;
  typing: boolean;
  state: Record<string, unknown>;
}

export interface SyncInfo extends Omit<SyncState, 'wasOffline'> {
  lastKnownBackendSeq: number | undefined;
}

/** Raised for refused sends and relay errors; `code` is normalized. */
export class SkeinError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SkeinError';
  }
}

/** What a view needs from its client. */
export interface ViewContext {
  threadId: string;
  userId: string;
  dbName: string;
  lockName: string;
  channelName: string;
  wsUrl: string;
  getToken(): Promise<string>;
  /** Guest mode: no relay connection at all (tabs still share through the BroadcastChannel). */
  guest?: boolean;
  WebSocketPolyfill?: typeof WebSocket;
  api: RelayApi;
  threads: ThreadList;
  store: LocalStore;
  sendQueue: SendQueue;
  telemetry: TelemetryHook;
  capabilities(): Capabilities | null;
  revalidateIntervalMs: number;
  /** Called when this view's relay connection came back after being lost. */
  onReconnected(): void;
  onConnectionChange(): void;
  onClosed(view: ThreadView): void;
}

const TYPING_TTL_MS = 5_000;
/** A typing client re-sends its presence at most this often. */
const TYPING_REFRESH_MS = 2_000;
/** Newest messages kept as a render cache, so that a thread of any length paints at once. */
const WINDOW_SIZE = 200;
const WINDOW_SAVE_INTERVAL_MS = 1_000;

export class ThreadView {
  readonly threadId: string;
  readonly doc = new Y.Doc();
  readonly roots: ThreadRoots = threadRoots(this.doc);
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  /** Resolves once the local copy is loaded from IndexedDB (no network involved). */
  readonly ready: Promise<void>;
  /**
   * Resolves as soon as something can be rendered: the cached window of the newest
   * messages, or the full local copy when there is no window cache. Until `ready`,
   * `messages` is that window (see `isPartial`).
   */
  readonly firstPaint: Promise<void>;
  /** Names of the sync states this view went through, oldest first (bounded). */
  readonly syncHistory: SyncState['state'][] = [];
  /** Number of resyncs started (manual, automatic, or asked for by another tab). */
  resyncCount = 0;
  /** The close code and reason when the relay refused this thread for good. */
  refused: { code: number; reason: string } | null = null;

  private sync: SyncState;
  private readonly persistence: IndexeddbPersistence;
  private readonly tabs: TabChannel;
  private readonly leadership: Leadership;
  private provider: WebsocketProvider | null = null;
  private loaded = false;
  private closed = false;
  private listeners = new Set<(v: ThreadView) => void>();
  private notifyScheduled = false;
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private notifyFrame: number | null = null;
  private messagesCache: ViewMessage[] | null = null;
  /** Records appended at the end since `messagesCache` was built; null when a full rebuild is needed. */
  private appended: MessageRecord[] | null = [];
  /** Length of the messages array as last seen by the cache. */
  private rawLen = 0;
  private cachedIds = new Set<string>();
  private receiptsCache: ReceiptIndex | null = null;
  private viewCache = new Map<string, { canon: CanonInfo | undefined; showAt: boolean; v: ViewMessage }>();
  private canonDirty = true;
  private window: ViewMessage[] | null = null;
  private windowSaveTimer: ReturnType<typeof setTimeout> | null = null;
  private windowSavedFor: ViewMessage[] | null = null;
  private windowSaved = false;
  /** Highest seq seen from the relay in this session (after a completed sync), or null. */
  private relaySeenMax: number | null = null;
  private leaderStatus: LeaderStatus | null = null;
  private resyncRunning = false;
  private resyncTimer: ReturnType<typeof setTimeout> | null = null;
  private resyncAttempts = 0;
  private revalidateTimer: ReturnType<typeof setInterval> | null = null;
  private reportedDuplicates = new Set<string>();
  private reportedFailures = new Set<string>();
  private tokenRetried = false;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly ctx: ViewContext) {
    this.threadId = ctx.threadId;
    this.sync = { ...initialSyncState(), connection: 'connecting' };
    this.syncHistory.push(this.sync.state);
    this.awareness.setLocalState({ userId: ctx.userId });
    this.persistence = new IndexeddbPersistence(ctx.dbName, this.doc);
    this.tabs = new TabChannel(ctx.channelName, this.doc, this.awareness);
    this.tabs.onStatus = (s) => this.onLeaderStatus(s);
    this.tabs.onStatusRequest = () => this.publishStatus();
    this.tabs.onResyncRequest = () => {
      if (this.leadership.isLeader) void this.runResync();
    };
    this.doc.on('afterTransaction', this.onTransaction);
    this.roots.canon.observe(this.onCanon);
    this.roots.messages.observe(this.onMessages);
    this.roots.streams.observe(this.scheduleNotify);
    this.awareness.on('change', this.scheduleNotify);

    const lastSyncedAt = ctx.store.get<number>('kv', `synced:${ctx.threadId}`).catch(() => undefined);
    this.ready = Promise.all([this.persistence.whenSynced, lastSyncedAt]).then(([, at]) => {
      if (this.closed) return;
      if (at && this.sync.lastSyncedAt === null) this.sync = { ...this.sync, lastSyncedAt: at };
      this.loaded = true;
      this.tabs.start();
      this.validate();
      this.scheduleNotify();
    });
    const cachedWindow = ctx.store.get<ViewMessage[]>('kv', `window:${ctx.threadId}`).catch(() => undefined);
    this.firstPaint = cachedWindow.then((w) => {
      if (!Array.isArray(w) || w.length === 0 || this.loaded) return this.ready;
      this.window = w;
      this.scheduleNotify(); // subscribers render the cached window at once
    });
    this.leadership = electLeader(ctx.lockName);
    void Promise.all([this.ready, this.leadership.whenLeader]).then(() => this.startProvider());
    if (ctx.revalidateIntervalMs > 0) {
      this.revalidateTimer = setInterval(() => void this.revalidate(true), ctx.revalidateIntervalMs);
    }
  }

  /** True when this tab holds the relay connection for this thread. */
  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  // ---------------------------------------------------------------- reading

  /** True until the full local copy is loaded: `messages` is then only the cached newest window. */
  get isPartial(): boolean {
    return !this.loaded;
  }

  /** Messages in display order (canonical by seq, then pending in local order), with statuses. */
  get messages(): ViewMessage[] {
    if (!this.loaded) return this.window ?? [];
    if (this.messagesCache && this.appended === null) this.messagesCache = null;
    if (!this.messagesCache) {
      this.messagesCache = this.computeMessages();
      this.appended = [];
    } else if (this.appended!.length) {
      // Fast path for the common case (a send, a live message): no re-sort of the thread.
      this.messagesCache = this.appendPending(this.messagesCache, this.appended!);
      this.appended = [];
    }
    return this.messagesCache;
  }

  /** The newest `n` messages (what a chat screen renders first). */
  latest(n: number): ViewMessage[] {
    const all = this.messages;
    return all.slice(Math.max(0, all.length - n));
  }

  get meta(): ThreadMetaView | null {
    const m = this.roots.meta;
    if (!m.has('title') && !m.has('participants')) {
      const t = this.ctx.threads.get(this.threadId);
      return t ? { title: t.title, participants: t.participants, archived: t.archived, mirror: t.mirror, createdAt: t.createdAt, atUri: t.atUri ?? null } : null;
    }
    return {
      title: String(m.get('title') ?? ''),
      participants: (m.get('participants') as string[] | undefined) ?? [],
      archived: m.get('archived') === true,
      mirror: m.get('mirror') === true,
      createdAt: Number(m.get('createdAt') ?? 0),
      atUri: typeof m.get('atUri') === 'string' ? (m.get('atUri') as string) : null,
    };
  }

  /** Sync state, connection and the data for an "offline – latest messages at …" banner. */
  get syncInfo(): SyncInfo {
    const { wasOffline: _w, ...rest } = this.sync;
    return { ...rest, lastKnownBackendSeq: this.lastKnownBackendSeq() };
  }

  /** AT state is shown only when the relay's write bridge is on and the thread is mirrored. */
  get atVisible(): boolean {
    return this.ctx.capabilities()?.atproto.features.write_bridge === true && this.meta?.mirror === true;
  }

  /** The relay reports the AT bridge lagging or failing (only meaningful when AT is shown). */
  get atDegraded(): boolean {
    return this.atVisible && this.ctx.capabilities()?.atproto.degraded === true;
  }

  /** Who read a message and when, oldest first. */
  readers(messageId: string): ReadInfo[] {
    return this.receipts().readers.get(messageId) ?? [];
  }

  /** Highest seq `userId` has read (0 when nothing). */
  readUpTo(userId: string): number {
    return this.receipts().readUpTo.get(userId) ?? 0;
  }

  /** Canonical messages by others after the signed-in user's read position. */
  get unreadCount(): number {
    const canonical: Array<{ authorId: string; seq: number }> = [];
    for (const m of this.messages) if (m.seq !== undefined) canonical.push({ authorId: m.authorId, seq: m.seq });
    return unreadCount(canonical, this.ctx.userId, this.readUpTo(this.ctx.userId));
  }

  /** Other clients present on this thread (other tabs, devices and users). */
  get presence(): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    const now = Date.now();
    this.awareness.getStates().forEach((state, clientId) => {
      if (clientId === this.doc.clientID || typeof state?.userId !== 'string') return;
      const typingAt = typeof state.typingAt === 'number' ? state.typingAt : 0;
      out.push({ clientId, userId: state.userId, typing: now - typingAt < TYPING_TTL_MS, state });
    });
    return out;
  }

  /**
   * Calls `fn` after changes, at most once per animation frame (bursts coalesce).
   * Returns an unsubscribe function.
   */
  subscribe(fn: (v: ThreadView) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---------------------------------------------------------------- writing

  /**
   * Appends a message to the local document and resolves with its id once it is
   * durable in IndexedDB; from then on it reaches the relay even if the tab closes.
   */
  async send(text: string, opts: { replyTo?: string } = {}): Promise<string> {
    if (this.closed) throw new SkeinError('CLOSED', 'thread view is closed');
    await this.ready;
    const record: MessageRecord = { id: nextId(), authorId: this.ctx.userId, text, clientSentAt: Date.now() };
    if (opts.replyTo !== undefined) record.replyTo = opts.replyTo;
    const max = this.ctx.capabilities()?.limits.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
    if (text.length > max) throw new SkeinError('TEXT_TOO_LONG', `the text has ${text.length} characters; this relay takes at most ${max}`);
    const valid = validateMessageRecord(record, max);
    if (!valid.ok) throw new SkeinError('BAD_REQUEST', `cannot send: ${valid.reason}`);
    if (this.meta?.archived) throw new SkeinError('THREAD_ARCHIVED', 'thread is archived');
    const messages = this.roots.messages;
    // insert at the end, not push: push walks the list (DESIGN.md, measured).
    this.doc.transact(() => messages.insert(messages.length, [record]), LOCAL_ORIGIN);
    // y-indexeddb queued its write synchronously in the update handler above.
    const durable = afterPendingWrites(this.persistence.db!, 'updates');
    const now = Date.now();
    this.ctx.sendQueue.add(record.id, { threadId: this.threadId, createdAt: now });
    this.ctx.telemetry({ name: 'message_send_optimistic_created', threadId: this.threadId, messageId: record.id, at: now });
    await durable;
    return record.id;
  }

  /**
   * Starts a streamed reply (an AI answer, a long paste): it grows live in every tab and on
   * every device, then `finish()` makes it an ordinary message with the same id.
   */
  startStream(opts: { replyTo?: string } = {}): StreamHandle {
    if (this.closed) throw new SkeinError('CLOSED', 'thread view is closed');
    if (this.meta?.archived) throw new SkeinError('THREAD_ARCHIVED', 'thread is archived');
    return startStream(
      {
        doc: this.doc,
        roots: this.roots,
        userId: this.ctx.userId,
        origin: LOCAL_ORIGIN,
        limits: () => streamLimitsOf(this.ctx.capabilities()?.limits),
        sent: async (record) => {
          const durable = afterPendingWrites(this.persistence.db!, 'updates');
          this.ctx.sendQueue.add(record.id, { threadId: this.threadId, createdAt: Date.now() });
          await durable;
        },
        error: (code, message) => new SkeinError(code, message),
      },
      nextId(),
      opts,
    );
  }

  /** Streams in this thread not finished as messages: live (`streaming`) or `interrupted`. */
  get streams(): ViewStream[] {
    return listStreams(this.roots, this.ctx.userId, (id) => this.roots.canon.has(id) || this.messages.some((m) => m.id === id));
  }

  private resolveRelaySynced: () => void = () => {};
  /** Resolves once this tab (or the tab holding the connection) has synced with the relay. */
  readonly relaySynced: Promise<void> = new Promise((r) => (this.resolveRelaySynced = r));

  /**
   * Appends messages written elsewhere (a guest session being uploaded) as the signed-in
   * user's, keeping their ids and order; ids the thread already has are skipped, so a retry
   * never doubles one. Waits for the relay's copy first. Resolves with how many were added.
   */
  async importMessages(list: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string }>): Promise<number> {
    if (this.closed) throw new SkeinError('CLOSED', 'thread view is closed');
    await this.ready;
    if (!this.ctx.guest) await this.relaySynced;
    const have = new Set(this.roots.messages.toArray().map((m) => m.id));
    const max = this.ctx.capabilities()?.limits.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
    const records: MessageRecord[] = [];
    for (const m of list) {
      if (have.has(m.id)) continue;
      const r: MessageRecord = { id: m.id, authorId: this.ctx.userId, text: m.text, clientSentAt: m.clientSentAt };
      if (m.replyTo !== undefined) r.replyTo = m.replyTo;
      const v = validateMessageRecord(r, max);
      if (!v.ok) throw new SkeinError('BAD_REQUEST', `cannot import ${m.id}: ${v.reason}`);
      records.push(r);
      have.add(m.id);
    }
    if (records.length === 0) return 0;
    const messages = this.roots.messages;
    this.doc.transact(() => messages.insert(messages.length, records), LOCAL_ORIGIN);
    const durable = afterPendingWrites(this.persistence.db!, 'updates');
    const now = Date.now();
    for (const r of records) this.ctx.sendQueue.add(r.id, { threadId: this.threadId, createdAt: now });
    await durable;
    return records.length;
  }

  /** Records that the signed-in user read `messageId` now (never moves a receipt back). */
  markRead(messageId: string): boolean {
    if (this.closed) return false;
    let wrote = false;
    this.doc.transact(() => {
      wrote = writeReceipt(this.roots.receipts, messageId, this.ctx.userId);
    }, LOCAL_ORIGIN);
    return wrote;
  }

  /** Sets fields of this client's presence state (e.g. `{ name }`). */
  setPresence(fields: Record<string, unknown>): void {
    const cur = this.awareness.getLocalState() ?? {};
    this.awareness.setLocalState({ ...cur, ...fields, userId: this.ctx.userId });
  }

  /**
   * Marks this client typing (expires by itself after a few seconds) or not. Call it on
   * every keystroke: presence is only re-sent when typing starts, stops, or every
   * couple of seconds (the relay rate-limits awareness changes).
   */
  setTyping(typing: boolean): void {
    const cur = this.awareness.getLocalState();
    const typingAt = typeof cur?.typingAt === 'number' ? cur.typingAt : 0;
    const now = Date.now();
    if (typing && now - typingAt > TYPING_REFRESH_MS) this.setPresence({ typingAt: now });
    else if (!typing && typingAt !== 0) this.setPresence({ typingAt: 0 });
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = typing ? setTimeout(() => this.setTyping(false), TYPING_TTL_MS) : null;
  }

  /** Asks the relay to retry a failed AT mirror of `messageId`. */
  async retry(messageId: string): Promise<void> {
    await this.ctx.api.retryMirror(this.threadId, messageId);
  }

  /** Resyncs this thread now (also when it looks synced). */
  resync(): Promise<void> {
    return this.runResync();
  }

  /** Stops syncing and frees the document; the local copy stays in IndexedDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.resyncTimer, this.typingTimer, this.notifyTimer, this.windowSaveTimer]) if (t) clearTimeout(t);
    await this.saveWindow();
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    if (this.notifyFrame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.notifyFrame);
    this.listeners.clear();
    this.awareness.setLocalState(null);
    this.provider?.destroy();
    this.tabs.close();
    this.leadership.release();
    this.awareness.destroy();
    await this.persistence.destroy();
    this.doc.destroy();
    this.ctx.onClosed(this);
  }

  // ---------------------------------------------------------------- sync

  /** Drops derived data (e.g. after the relay's capabilities changed) and notifies. */
  invalidate(): void {
    this.appended = null;
    this.scheduleNotify();
  }

  /** Marks the state UNKNOWN (offline→online elsewhere); `revalidate()` decides again. */
  markUnknown(): void {
    this.dispatch({ type: 'reset' });
  }

  private currentConnection(): Connection {
    if (this.provider) return this.provider.wsconnected ? 'online' : this.provider.wsconnecting ? 'connecting' : 'offline';
    return this.leaderStatus?.connection ?? 'connecting';
  }

  private lastKnownBackendSeq(): number | undefined {
    const listed = this.ctx.threads.lastSeq(this.threadId);
    if (listed === undefined && this.relaySeenMax === null) return undefined;
    return Math.max(listed ?? 0, this.relaySeenMax ?? 0);
  }

  private maxCanonSeq(): number {
    let max = 0;
    for (const c of this.roots.canon.values()) if (c && c.seq > max) max = c.seq;
    return max;
  }

  private validate(): void {
    if (!this.loaded || this.closed) return;
    this.canonDirty = false;
    const canon = this.roots.canon;
    const seqs = (function* () {
      for (const c of canon.values()) if (c && typeof c.seq === 'number') yield c.seq;
    })();
    this.dispatch({ type: 'validate', seqs, lastKnownBackendSeq: this.lastKnownBackendSeq() });
  }

  private dispatch(e: SyncEvent): void {
    if (this.closed) return;
    const prev = this.sync;
    const { state, effects } = nextSyncState(prev, e);
    this.sync = state;
    if (state.state !== prev.state) {
      this.syncHistory.push(state.state);
      if (this.syncHistory.length > 100) this.syncHistory.shift();
    }
    if (state.state === 'SYNCED') this.resyncAttempts = 0;
    if (state !== prev) this.scheduleNotify();
    if (state.connection !== prev.connection) {
      this.ctx.onConnectionChange();
      this.publishStatus();
    }
    for (const effect of effects) {
      if (effect === 'resync') this.scheduleResync();
      if (effect === 'revalidate') {
        if (e.type === 'connection') this.ctx.onReconnected();
        this.validate();
      }
    }
  }

  /** Fetches this thread's backend seq (when `fetch`) and validates. */
  async revalidate(fetch = false): Promise<void> {
    if (fetch) await this.ctx.threads.refreshThread(this.threadId).catch(() => {});
    this.validate();
  }

  private scheduleResync(): void {
    if (this.resyncRunning || this.resyncTimer || this.closed) return;
    const delay = this.resyncAttempts === 0 ? 0 : Math.min(1000 * 2 ** (this.resyncAttempts - 1), 60_000);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      void this.runResync();
    }, delay);
  }

  /**
   * A resync scoped to this thread: learn the relay's current seq, then make the relay
   * send everything this copy misses (the leader reconnects, which runs the y-websocket
   * sync handshake again; another tab asks the leader to).
   */
  private async runResync(): Promise<void> {
    if (this.resyncRunning || this.closed) return;
    this.resyncRunning = true;
    this.resyncAttempts++;
    this.resyncCount++;
    this.dispatch({ type: 'resync_started' });
    try {
      await this.ready;
      try {
        await this.ctx.threads.refreshThread(this.threadId);
      } catch {
        return; // relay unreachable: revalidated when the connection comes back
      }
      this.validate();
      if (this.lastValidationOk()) return;
      if (this.provider) {
        const p = this.provider;
        if (p.wsconnected && p.ws && p.synced) {
          // Ask the relay again for everything this copy misses (sync step 1 on the open
          // socket, as y-websocket's resyncInterval does): no reconnect, no offline blip.
          const enc = encoding.createEncoder();
          encoding.writeVarUint(enc, 0); // y-websocket messageSync
          syncProtocol.writeSyncStep1(enc, this.doc);
          p.ws.send(encoding.toUint8Array(enc));
          await withTimeout(this.untilValid(), 20_000);
        } else {
          const synced = new Promise<void>((resolve) => {
            const on = (s: boolean) => {
              if (!s) return;
              p.off('sync', on);
              resolve();
            };
            p.on('sync', on);
          });
          if (!p.wsconnected && !p.wsconnecting) p.connect();
          await withTimeout(synced, 20_000);
        }
      } else {
        this.tabs.requestResync();
        await withTimeout(this.untilValid(), 20_000);
      }
    } finally {
      this.resyncRunning = false;
      this.dispatch({ type: 'resync_finished' });
      this.validate();
    }
  }

  /** Resolves when the local copy validates against the backend seq (checked on every change). */
  private untilValid(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (!this.lastValidationOk() && !this.closed) return;
        this.doc.off('afterTransaction', check);
        resolve();
      };
      this.doc.on('afterTransaction', check);
      check();
    });
  }

  private lastValidationOk(): boolean {
    const canon = this.roots.canon;
    const seqs = (function* () {
      for (const c of canon.values()) if (c) yield c.seq;
    })();
    return validateSequence(seqs, this.lastKnownBackendSeq()) === 'validated';
  }

  private async startProvider(): Promise<void> {
    if (this.closed || this.ctx.guest) return;
    let token: string;
    try {
      token = await this.ctx.getToken();
    } catch {
      this.dispatch({ type: 'connection', connection: 'offline' });
      return;
    }
    if (this.closed) return;
    if (!this.ctx.WebSocketPolyfill && typeof WebSocket === 'undefined') {
      this.refused = { code: 0, reason: 'no WebSocket implementation (pass WebSocketPolyfill)' };
      this.dispatch({ type: 'connection', connection: 'offline' });
      return;
    }
    const p = new WebsocketProvider(this.ctx.wsUrl, this.threadId, this.doc, {
      connect: false,
      awareness: this.awareness,
      params: { token },
      disableBc: true, // tabs share through TabChannel, which also forwards to the relay
      maxBackoffTime: 2500,
      shouldReconnect: (e: CloseEvent) => !isPermanentClose(e.code),
      ...(this.ctx.WebSocketPolyfill ? { WebSocketPolyfill: this.ctx.WebSocketPolyfill } : {}),
    });
    this.provider = p;
    p.on('status', () => this.dispatch({ type: 'connection', connection: this.currentConnection() }));
    p.on('sync', (s: boolean) => {
      if (s) this.onRelaySynced();
    });
    p.on('connection-close', (e: CloseEvent | null) => {
      if (!e || !isPermanentClose(e.code)) return;
      if (e.code === CloseCode.UNAUTHENTICATED && !this.tokenRetried) {
        // The token may have expired: fetch a fresh one once and reconnect.
        this.tokenRetried = true;
        void Promise.resolve(this.ctx.getToken()).then((t) => {
          if (this.closed) return;
          p.params = { token: t };
          p.connect();
        });
        return;
      }
      this.refused = { code: e.code, reason: String(e.reason ?? '') };
      this.scheduleNotify();
    });
    p.connect();
  }

  private onRelaySynced(): void {
    this.resolveRelaySynced();
    this.tokenRetried = false;
    this.relaySeenMax = this.maxCanonSeq();
    this.ctx.threads.noteSeq(this.threadId, this.relaySeenMax);
    const at = Date.now();
    void this.ctx.store.put('kv', `synced:${this.threadId}`, at).catch(() => {});
    this.dispatch({ type: 'synced_with_relay', at });
    this.publishStatus();
  }

  private onLeaderStatus(s: LeaderStatus): void {
    if (this.provider) return;
    this.leaderStatus = s;
    if (s.synced) {
      this.resolveRelaySynced();
      this.relaySeenMax = Math.max(this.relaySeenMax ?? 0, this.maxCanonSeq());
      if (s.lastSyncedAt && s.lastSyncedAt !== this.sync.lastSyncedAt) this.dispatch({ type: 'synced_with_relay', at: s.lastSyncedAt });
    }
    this.dispatch({ type: 'connection', connection: s.connection });
  }

  private publishStatus(): void {
    if (!this.provider || this.closed) return;
    this.tabs.publishStatus({
      connection: this.currentConnection(),
      synced: this.provider.synced,
      lastSyncedAt: this.sync.lastSyncedAt,
    });
  }

  // ---------------------------------------------------------------- change tracking

  private onTransaction = (tr: Y.Transaction): void => {
    if (tr.changed.size === 0 && tr.deleteSet.clients.size === 0) return;
    for (const type of tr.changed.keys()) {
      const t = type as unknown;
      if (t !== this.roots.messages && t !== this.roots.receipts) this.appended = null;
    }
    if (tr.deleteSet.clients.size > 0) this.appended = null;
    this.receiptsCache = null;
    this.scheduleNotify();
  };

  /** Notes records appended at the end of the array; anything else needs a full rebuild. */
  private onMessages = (event: Y.YArrayEvent<MessageRecord>): void => {
    const delta = event.changes.delta;
    const insert = delta.length === 1 && this.rawLen === 0 ? delta[0]!.insert
      : delta.length === 2 && delta[0]!.retain === this.rawLen ? delta[1]!.insert : undefined;
    this.rawLen = this.roots.messages.length;
    if (!this.messagesCache) return; // rebuilt from scratch on next read anyway
    if (Array.isArray(insert) && this.appended) this.appended.push(...(insert as MessageRecord[]));
    else this.appended = null;
  };

  /** Appends records that have no canon yet (they follow everything, in array order). */
  private appendPending(current: ViewMessage[], records: MessageRecord[]): ViewMessage[] {
    const canon = this.roots.canon;
    const showAt = this.atVisible;
    const out = current.slice();
    for (const m of records) {
      if (!m || typeof m.id !== 'string') continue;
      const c = canon.get(m.id);
      if (c) return this.computeMessages(); // already canonical: its place is by seq
      if (this.cachedIds.has(m.id)) {
        this.reportDuplicates([m, m]);
        continue;
      }
      this.cachedIds.add(m.id);
      out.push(this.viewOf({ ...m }, showAt));
    }
    return out;
  }

  private onCanon = (event: Y.YMapEvent<CanonInfo>, tr: Y.Transaction): void => {
    this.canonDirty = true;
    const fromRelay = (this.provider && tr.origin === this.provider) || (tr.origin === TAB_ORIGIN && this.leaderStatus?.synced);
    const showAt = this.atVisible;
    for (const id of event.keysChanged) {
      const c = this.roots.canon.get(id);
      if (!c) continue;
      if (fromRelay && c.seq > (this.relaySeenMax ?? 0)) {
        this.relaySeenMax = c.seq;
        this.ctx.threads.noteSeq(this.threadId, c.seq);
      }
      const queued = this.ctx.sendQueue.get(id);
      if (!queued) continue;
      const at = Date.now();
      if (!this.reportedFailures.has(id) && event.keys.get(id)?.action === 'add') {
        this.ctx.telemetry({ name: 'message_sync_confirmed', threadId: this.threadId, messageId: id, seq: c.seq, latencyMs: at - queued.createdAt, at });
      }
      if (c.state === 'failed' || c.state === 'rejected') {
        if (!this.reportedFailures.has(id)) {
          this.reportedFailures.add(id);
          const code = c.error ?? c.state.toUpperCase();
          this.ctx.telemetry({ name: 'message_sync_failed', threadId: this.threadId, messageId: id, code, at });
          this.ctx.sendQueue.recordFailure({ threadId: this.threadId, messageId: id, code, at });
        }
        this.ctx.sendQueue.remove(id);
      } else if (c.state === 'confirmed' || !showAt) {
        this.ctx.sendQueue.remove(id);
      }
    }
  };

  private scheduleNotify = (): void => {
    if (this.notifyScheduled || this.closed) return;
    this.notifyScheduled = true;
    const run = () => {
      if (!this.notifyScheduled) return;
      this.notifyScheduled = false;
      if (this.notifyTimer) clearTimeout(this.notifyTimer);
      if (this.notifyFrame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.notifyFrame);
      this.notifyTimer = null;
      this.notifyFrame = null;
      this.flush();
    };
    // One notification per animation frame; the timer covers hidden tabs and Node.
    if (typeof requestAnimationFrame === 'function') this.notifyFrame = requestAnimationFrame(run);
    this.notifyTimer = setTimeout(run, 50);
  };

  private flush(): void {
    if (this.closed) return;
    if (this.canonDirty) this.validate();
    if (this.loaded && !this.windowSaveTimer) {
      this.windowSaveTimer = setTimeout(() => {
        this.windowSaveTimer = null;
        void this.saveWindow();
      }, WINDOW_SAVE_INTERVAL_MS);
    }
    for (const f of [...this.listeners]) {
      try {
        f(this);
      } catch (err) {
        console.error('skein: change listener failed', err);
      }
    }
    // First save right after the first render of the full copy: a short visit still leaves a window.
    if (this.loaded && !this.windowSaved && this.messagesCache?.length) {
      this.windowSaved = true;
      void this.saveWindow();
    }
  }

  /** Stores the newest messages as the render cache (only what the app already computed). */
  private async saveWindow(): Promise<void> {
    const all = this.messagesCache;
    if (!this.loaded || !all || all === this.windowSavedFor) return;
    this.windowSavedFor = all;
    await this.ctx.store.put('kv', `window:${this.threadId}`, all.slice(Math.max(0, all.length - WINDOW_SIZE))).catch(() => {});
  }

  private receipts(): ReceiptIndex {
    if (!this.receiptsCache) {
      const canon = this.roots.canon;
      this.receiptsCache = indexReceipts(this.roots.receipts.entries(), (id) => canon.get(id)?.seq);
    }
    return this.receiptsCache;
  }

  private computeMessages(): ViewMessage[] {
    const raw = this.roots.messages.toArray().filter((m) => m && typeof m.id === 'string');
    const canon = this.roots.canon;
    const ordered = displayOrder(raw, (id) => canon.get(id));
    if (ordered.length !== raw.length) this.reportDuplicates(raw);
    const showAt = this.atVisible;
    const out = new Array<ViewMessage>(ordered.length);
    this.cachedIds = new Set();
    for (let i = 0; i < ordered.length; i++) {
      const m = ordered[i]!;
      this.cachedIds.add(m.id);
      out[i] = this.viewOf(m, showAt);
    }
    this.rawLen = this.roots.messages.length;
    return out;
  }

  private viewOf(m: OrderedMessage, showAt: boolean): ViewMessage {
    const cached = this.viewCache.get(m.id);
    if (cached && cached.canon === m.canon && cached.showAt === showAt) return cached.v;
    const origin = parseRemoteAuthorId(m.authorId);
    const v: ViewMessage = {
      id: m.id,
      authorId: m.authorId,
      text: m.text,
      clientSentAt: m.clientSentAt,
      mine: m.authorId === this.ctx.userId,
      // A message ingested from AT is an AT record whether or not this thread mirrors.
      ...deriveStatus(m.canon, showAt || !!origin),
    };
    if (m.replyTo !== undefined) v.replyTo = m.replyTo;
    if (origin) v.origin = origin;
    if (m.canon) {
      v.seq = m.canon.seq;
      v.sentAt = m.canon.sentAt;
    }
    this.viewCache.set(m.id, { canon: m.canon, showAt, v });
    return v;
  }

  private reportDuplicates(raw: MessageRecord[]): void {
    const seen = new Set<string>();
    for (const m of raw) {
      if (!seen.has(m.id)) {
        seen.add(m.id);
        continue;
      }
      if (this.reportedDuplicates.has(m.id)) continue;
      this.reportedDuplicates.add(m.id);
      this.ctx.telemetry({ name: 'message_reconcile_duplicate_suppressed', threadId: this.threadId, messageId: m.id, at: Date.now() });
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | void> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}
