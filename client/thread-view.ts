/**
 * One open thread: its Yjs document persisted in IndexedDB (y-indexeddb), shared with the
 * other tabs (TabChannel), synced with the relay by the leader tab (y-websocket), and
 * presented as ordered messages with statuses, receipts, presence and a sync state.
 */
import { monotonicFactory } from 'ulid';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { parseDocName } from '../shared/generation.ts';
import { type CanonInfo, DEFAULT_MAX_TEXT_LENGTH, type MessageRecord, type Receipt, type ThreadRoots, receiptKey } from '../shared/schema.ts';
import type { HistoryStore } from './history-store.ts';
import { HistoryWindow } from './history-window.ts';
import { GenerationFollower, type GenerationHost } from './generation-follower.ts';
import type { LiveGeneration } from './live-generation.ts';
import { afterPendingWrites, type LocalStore } from './local-store.ts';
import { MessageList, type ViewMessage } from './message-list.ts';
import { type StreamHandle, type ViewStream, listStreams, startStream, streamLimitsOf } from './stream.ts';
import { type PresenceEntry, Presence } from './presence.ts';
import { preconnect, providerUrl } from './preconnect.ts';
import { openRelayLink } from './relay-link.ts';
import { type ReadInfo, type ReceiptIndex, indexReceipts, unreadCount, writeReceipt } from './receipts.ts';
import type { Capabilities, GenerationInfo, RelayApi } from './relay-api.ts';
import type { SendQueue } from './send-queue.ts';
import type { SyncState } from './sync-state.ts';
import { type SyncHost, ViewSync } from './view-sync.ts';
import { SkeinError, appendDurably, importedRecords, newRecord } from './view-writes.ts';
import { TAB_ORIGIN } from './tab-channel.ts';
import { type Leadership, electLeader } from './tab-leader.ts';
import type { TelemetryHook } from './telemetry.ts';
import type { ThreadList } from './thread-list.ts';

/** Transaction origin of this tab's own edits. */
const LOCAL_ORIGIN = Symbol('skein-local');
const nextId = monotonicFactory();

export type { ViewMessage };

export interface ThreadMetaView {
  title: string;
  participants: string[];
  archived: boolean;
  mirror: boolean;
  createdAt: number;
  /** The thread's at:// identity when it is shared through AT: another relay follows it by this URI. */
  atUri: string | null;
}

export type { PresenceEntry };

export interface SyncInfo extends Omit<SyncState, 'wasOffline'> {
  lastKnownBackendSeq: number | undefined;
}

export { SkeinError };

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
  /** The client's cache of sealed history (null for a guest: its threads never roll). */
  history(): Promise<HistoryStore | null>;
  revalidateIntervalMs: number;
  /** Called when this view's relay connection came back after being lost. */
  onReconnected(): void;
  onConnectionChange(): void;
  onClosed(view: ThreadView): void;
}

/** Newest messages kept as a render cache, so that a thread of any length paints at once. */
const WINDOW_SIZE = 200;
const WINDOW_SAVE_INTERVAL_MS = 1_000;

/** Sealed messages shown at first (more with `loadOlder`). */
const FIRST_HISTORY_PAGE = 50;

export class ThreadView {
  readonly threadId: string;
  /**
   * Presence of this client. It belongs to the view, not to a generation's document, so it
   * survives a roll (it only borrows a client id from its own small document).
   */
  readonly awareness = new awarenessProtocol.Awareness(new Y.Doc());
  private readonly presenceState: Presence;
  /** Resolves once the local copy is loaded from IndexedDB (no network involved). */
  readonly ready: Promise<void>;
  /**
   * Resolves as soon as something can be rendered: the cached window of the newest
   * messages, or the full local copy when there is no window cache. Until `ready`,
   * `messages` is that window (see `isPartial`).
   */
  readonly firstPaint: Promise<void>;
  /** Number of times this view moved its work into a newer generation. */
  rebaseCount = 0;
  /** The close code and reason when the relay refused this thread for good. */
  refused: { code: number; reason: string } | null = null;

  private readonly generations: GenerationFollower;
  private readonly history: HistoryWindow;
  private readonly list: MessageList;
  private readonly syncer: ViewSync;
  private readonly leadership: Leadership;
  private provider: WebsocketProvider | null = null;
  /** Bumped by every connect and disconnect, so a connect still waiting (token, local load) knows it is stale. */
  private connectAttempt = 0;
  private loaded = false;
  private closed = false;
  private listeners = new Set<(v: ThreadView) => void>();
  private notifyScheduled = false;
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private notifyFrame: number | null = null;
  private receiptsCache: ReceiptIndex | null = null;
  /** Seqs of old messages named by receipts, looked up in the history store. */
  private receiptSeqs = new Map<string, number>();
  private receiptLookups = new Set<string>();
  private canonDirty = true;
  private window: ViewMessage[] | null = null;
  private windowSaveTimer: ReturnType<typeof setTimeout> | null = null;
  private windowSavedFor: ViewMessage[] | null = null;
  private windowSaved = false;
  private revalidateTimer: ReturnType<typeof setInterval> | null = null;
  private reportedFailures = new Set<string>();
  private autoLoadStoppedAt = -1;
  private readonly offThreads: () => void;

  constructor(private readonly ctx: ViewContext) {
    this.threadId = ctx.threadId;
    this.presenceState = new Presence(this.awareness, ctx.userId);
    this.syncer = new ViewSync(this.syncHost());
    this.list = new MessageList({ threadId: ctx.threadId, userId: ctx.userId, telemetry: ctx.telemetry, atVisible: () => this.atVisible });
    this.history = new HistoryWindow(ctx.threadId, ctx.history, ctx.guest ? null : ctx.api, () => {
      this.canonDirty = true;
      this.receiptsCache = null;
      this.scheduleNotify();
    });
    this.generations = new GenerationFollower(this.generationHost());
    this.bind(this.gen);
    this.awareness.on('change', this.scheduleNotify);
    this.offThreads = ctx.threads.onChange(() => void this.generations.followListed());

    const lastSyncedAt = ctx.store.get<number>('kv', `synced:${ctx.threadId}`).catch(() => undefined);
    this.ready = Promise.all([this.gen.loaded, lastSyncedAt]).then(([, at]) => {
      if (this.closed) return;
      this.syncer.restoreLastSyncedAt(at);
      this.loaded = true;
      this.gen.tabs.start();
      this.validate();
      this.scheduleNotify();
      void this.history.setEnd(this.gen.baseSeq, FIRST_HISTORY_PAGE);
      void this.generations.adoptLocal();
    });
    const cachedWindow = ctx.store.get<ViewMessage[]>('kv', `window:${ctx.threadId}`).catch(() => undefined);
    this.firstPaint = cachedWindow.then((w) => {
      if (!Array.isArray(w) || w.length === 0 || this.loaded) return this.ready;
      this.window = w;
      this.scheduleNotify(); // subscribers render the cached window at once
    });
    this.leadership = electLeader(ctx.lockName);
    void Promise.all([this.leadership.whenLeader, this.generations.located]).then(() => this.startProvider());
    if (ctx.revalidateIntervalMs > 0) {
      this.revalidateTimer = setInterval(() => void this.revalidate(true), ctx.revalidateIntervalMs);
    }
  }

  /** Names of the sync states this view went through, oldest first (bounded). */
  get syncHistory(): SyncState['state'][] {
    return this.syncer.history;
  }

  /** Number of resyncs started (manual, automatic, or asked for by another tab). */
  get resyncCount(): number {
    return this.syncer.resyncCount;
  }

  /** The live generation this view reads and writes. */
  private get gen(): LiveGeneration {
    return this.generations.current;
  }

  /** The live generation's document (it changes when the relay seals a generation). */
  get doc(): Y.Doc {
    return this.gen.doc;
  }

  get roots(): ThreadRoots {
    return this.gen.roots;
  }

  /** The live generation: its number, the seq sealed history ends at, and its document name. */
  get generation(): GenerationInfo {
    return { ...this.gen.info, baseSeq: this.gen.baseSeq };
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

  /**
   * Messages in display order, with statuses: the sealed history window (see `loadOlder`),
   * then the live document's canonical messages by seq, then pending ones in local order.
   */
  get messages(): ViewMessage[] {
    if (!this.loaded) return this.window ?? [];
    return this.list.get(this.roots, this.history, this.gen.baseSeq);
  }

  /**
   * The newest `n` messages (what a chat screen renders first). When fewer are loaded and
   * older sealed ones exist, they are paged in and subscribers are notified.
   */
  latest(n: number): ViewMessage[] {
    const all = this.messages;
    if (all.length < n && this.loaded && this.hasOlder && this.autoLoadStoppedAt !== this.history.version) {
      const at = this.history.version;
      this.autoLoadStoppedAt = at; // one attempt per window state: no loop while offline
      void this.loadOlder(n - all.length);
    }
    return all.slice(Math.max(0, all.length - n));
  }

  /** True while older messages than the loaded ones exist (page them in with `loadOlder`). */
  get hasOlder(): boolean {
    const lo = this.history.messages.length ? this.history.lo : this.gen.baseSeq + 1;
    return lo > 1;
  }

  /**
   * Pages in up to `count` older messages: from IndexedDB, and from the relay for what is
   * not stored locally (stored as it arrives). Resolves with how many were added (0 at the
   * start of the thread, or offline with nothing cached).
   */
  async loadOlder(count = 50): Promise<number> {
    if (this.closed) return 0;
    await this.ready;
    if (this.history.messages.length === 0) await this.history.setEnd(this.gen.baseSeq, 0);
    return this.history.loadOlder(count);
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
    const { wasOffline: _w, ...rest } = this.syncer.state;
    return { ...rest, lastKnownBackendSeq: this.syncer.lastKnownBackendSeq() };
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

  /**
   * Highest seq `userId` has read (0 when nothing). A receipt may name a message of a sealed
   * generation: its seq comes from the live canon, the history window or the history store.
   */
  readUpTo(userId: string): number {
    return this.receipts().readUpTo.get(userId) ?? 0;
  }

  /**
   * Canonical messages by others after the signed-in user's read position. Messages older
   * than the loaded window are not known here: when the read position is below the window,
   * those in between count as unread (an upper bound).
   */
  get unreadCount(): number {
    const canonical: Array<{ authorId: string; seq: number }> = [];
    for (const m of this.messages) if (m.seq !== undefined) canonical.push({ authorId: m.authorId, seq: m.seq });
    const upTo = this.readUpTo(this.ctx.userId);
    const lowest = canonical[0]?.seq ?? this.gen.baseSeq + 1;
    return unreadCount(canonical, this.ctx.userId, upTo) + Math.max(0, lowest - 1 - upTo);
  }

  /** Other clients present on this thread (other tabs, devices and users). */
  get presence(): PresenceEntry[] {
    return this.presenceState.others();
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
    const record = newRecord(nextId(), this.ctx.userId, text, opts, this.maxTextLength());
    if (this.meta?.archived) throw new SkeinError('THREAD_ARCHIVED', 'thread is archived');
    const durable = appendDurably(this.gen, [record], LOCAL_ORIGIN, this.ctx.sendQueue, this.threadId);
    this.ctx.telemetry({ name: 'message_send_optimistic_created', threadId: this.threadId, messageId: record.id, at: Date.now() });
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
          const durable = afterPendingWrites(this.gen.persistence.db!, 'updates');
          this.ctx.sendQueue.add(record.id, { threadId: this.threadId, createdAt: Date.now() });
          await durable;
        },
        error: (code, message) => new SkeinError(code, message),
      },
      nextId(),
      opts,
    );
  }

  private maxTextLength(): number {
    return this.ctx.capabilities()?.limits.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
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
    const records = importedRecords(list, have, this.ctx.userId, this.maxTextLength());
    if (records.length === 0) return 0;
    await appendDurably(this.gen, records, LOCAL_ORIGIN, this.ctx.sendQueue, this.threadId);
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
    this.presenceState.set(fields);
  }

  /**
   * Marks this client typing (expires by itself after a few seconds) or not. Call it on
   * every keystroke: presence is only re-sent when typing starts, stops, or every
   * couple of seconds (the relay rate-limits awareness changes).
   */
  setTyping(typing: boolean): void {
    this.presenceState.setTyping(typing);
  }

  /** Asks the relay to retry a failed AT mirror of `messageId`. */
  async retry(messageId: string): Promise<void> {
    await this.ctx.api.retryMirror(this.threadId, messageId);
  }

  /** Resyncs this thread now (also when it looks synced). */
  resync(): Promise<void> {
    return this.syncer.runResync();
  }

  /** Stops syncing and frees the document; the local copy stays in IndexedDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.notifyTimer, this.windowSaveTimer]) if (t) clearTimeout(t);
    this.syncer.close();
    await this.saveWindow();
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    if (this.notifyFrame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.notifyFrame);
    this.listeners.clear();
    this.presenceState.close();
    this.offThreads();
    this.provider?.destroy();
    this.unbind(this.gen);
    this.leadership.release();
    this.awareness.destroy();
    await this.gen.dispose();
    this.ctx.onClosed(this);
  }

  // ---------------------------------------------------------------- sync

  /** Drops derived data (e.g. after the relay's capabilities changed) and notifies. */
  invalidate(): void {
    this.list.invalidate();
    this.scheduleNotify();
  }

  /** Marks the state UNKNOWN (offline→online elsewhere); `revalidate()` decides again. */
  markUnknown(): void {
    this.syncer.dispatch({ type: 'reset' });
  }

  /** Fetches this thread's backend seq (when `fetch`) and validates. */
  revalidate(fetch = false): Promise<void> {
    return this.syncer.revalidate(fetch);
  }

  private syncHost(): SyncHost {
    const ctx = this.ctx;
    return {
      threadId: ctx.threadId,
      threads: ctx.threads,
      store: ctx.store,
      whenReady: () => this.ready,
      isLoaded: () => this.loaded,
      isClosed: () => this.closed,
      isLeader: () => this.leadership.isLeader,
      provider: () => this.provider,
      generation: () => this.gen,
      localSeqs: () => this.localSeqs(),
      followListed: () => this.generations.followListed(),
      notify: () => this.scheduleNotify(),
      onConnectionChange: () => ctx.onConnectionChange(),
      onReconnected: () => ctx.onReconnected(),
      onRelaySynced: () => this.resolveRelaySynced(),
    };
  }

  private maxCanonSeq(): number {
    let max = 0;
    for (const s of this.localSeqs()) if (s > max) max = s;
    return max;
  }

  private validate(): void {
    this.canonDirty = false;
    this.syncer.validate();
  }

  /**
   * Canonical seqs held locally: the history window, `baseSeq` (sealed history is complete
   * by definition, so the window need not reach back to it) and the live canon above it.
   * A live canon entry at or below `baseSeq` (a re-appended message the relay had) is history.
   */
  private *localSeqs(): Generator<number> {
    const base = this.gen.baseSeq;
    for (const m of this.history.messages) yield m.seq;
    if (base > 0) yield base;
    for (const c of this.roots.canon.values()) if (c && typeof c.seq === 'number' && c.seq > base) yield c.seq;
  }

  private async startProvider(): Promise<void> {
    if (this.closed || this.ctx.guest) return;
    const attempt = ++this.connectAttempt; // a later start, or a disconnect, supersedes this one
    let token: string;
    try {
      token = await this.ctx.getToken();
    } catch {
      this.syncer.dispatch({ type: 'connection', connection: 'offline' });
      return;
    }
    if (this.closed || attempt !== this.connectAttempt) return;
    const WS = this.ctx.WebSocketPolyfill ?? (typeof WebSocket === 'undefined' ? undefined : WebSocket);
    if (!WS) {
      this.refused = { code: 0, reason: 'no WebSocket implementation (pass WebSocketPolyfill)' };
      this.syncer.dispatch({ type: 'connection', connection: 'offline' });
      return;
    }
    if (this.provider) return;
    // The handshake overlaps the local load; the sync itself starts once the copy is loaded.
    const early = this.loaded ? null : preconnect(WS, providerUrl(this.ctx.wsUrl, this.gen.info.liveDoc, { token }));
    await this.ready;
    if (this.closed || this.provider || attempt !== this.connectAttempt) return early?.discard();
    const gen = this.gen; // a move meanwhile changes the URL: the early socket is then not adopted
    this.provider = openRelayLink({
      wsUrl: this.ctx.wsUrl,
      liveDoc: gen.info.liveDoc,
      doc: gen.doc,
      awareness: this.awareness,
      token,
      getToken: () => this.ctx.getToken(),
      WebSocketPolyfill: early?.socketClass ?? this.ctx.WebSocketPolyfill,
      isClosed: () => this.closed,
      onStatus: () => this.syncer.dispatch({ type: 'connection', connection: this.syncer.currentConnection() }),
      onSynced: () => this.onRelaySynced(),
      onSealed: (liveDoc) =>
        void this.generations.moveTo(liveDoc ? { liveDoc, generation: parseDocName(liveDoc).generation } : { generation: gen.info.generation + 1 }),
      onRefused: (code, reason) => {
        this.refused = { code, reason };
        this.scheduleNotify();
      },
    });
    early?.discard();
  }

  private onRelaySynced(): void {
    this.resolveRelaySynced();
    this.syncer.relaySynced(this.maxCanonSeq());
  }

  // ---------------------------------------------------------------- generations

  private generationHost(): GenerationHost {
    const ctx = this.ctx;
    return {
      threadId: ctx.threadId,
      userId: ctx.userId,
      dbName: ctx.dbName,
      channelName: ctx.channelName,
      guest: ctx.guest === true,
      api: ctx.api,
      threads: ctx.threads,
      store: ctx.store,
      history: this.history,
      awareness: this.awareness,
      origin: LOCAL_ORIGIN,
      isClosed: () => this.closed,
      maxSeq: () => this.maxCanonSeq(),
      disconnect: () => {
        this.connectAttempt++;
        const had = this.provider !== null;
        this.provider?.destroy();
        this.provider = null;
        return had;
      },
      switchTo: (old, next, records) => {
        this.unbind(old);
        this.bind(next);
        this.list.reset(next.roots);
        this.receiptsCache = null;
        this.canonDirty = true;
        this.rebaseCount++;
        this.ctx.telemetry({ name: 'thread_generation_rebased', threadId: this.threadId, generation: next.info.generation, reappended: records.length, at: Date.now() });
      },
      afterSwitch: (next, wasConnected) => {
        next.tabs.start();
        if (this.provider && this.provider.roomname !== next.info.liveDoc) {
          // Connected to the sealed generation while the move ran: that link is stale.
          this.provider.destroy();
          this.provider = null;
          wasConnected = true;
        }
        if (wasConnected || this.leadership.isLeader) void this.startProvider();
        void this.history.setEnd(next.baseSeq);
        this.scheduleNotify();
      },
    };
  }

  private bind(g: LiveGeneration): void {
    g.tabs.onStatus = (s) => this.syncer.leaderSaid(s, this.maxCanonSeq());
    g.tabs.onStatusRequest = () => this.syncer.publishStatus();
    g.tabs.onResyncRequest = () => {
      if (this.leadership.isLeader) void this.syncer.runResync();
    };
    g.tabs.onGeneration = (next) => void this.generations.moveTo(next);
    g.doc.on('afterTransaction', this.onTransaction);
    g.roots.canon.observe(this.onCanon);
    g.roots.messages.observe(this.onMessages);
    g.roots.streams.observe(this.scheduleNotify);
  }

  private unbind(g: LiveGeneration): void {
    g.tabs.onGeneration = () => {};
    g.doc.off('afterTransaction', this.onTransaction);
    g.roots.canon.unobserve(this.onCanon);
    g.roots.messages.unobserve(this.onMessages);
    g.roots.streams.unobserve(this.scheduleNotify);
  }

  // ---------------------------------------------------------------- change tracking

  private onTransaction = (tr: Y.Transaction): void => {
    if (tr.changed.size === 0 && tr.deleteSet.clients.size === 0) return;
    for (const type of tr.changed.keys()) {
      const t = type as unknown;
      if (t !== this.roots.messages && t !== this.roots.receipts) this.list.invalidate();
    }
    if (tr.deleteSet.clients.size > 0) this.list.invalidate();
    this.receiptsCache = null;
    this.scheduleNotify();
    this.syncer.changed();
  };

  private onMessages = (event: Y.YArrayEvent<MessageRecord>): void => {
    this.list.onMessages(event, this.roots);
  };

  private onCanon = (event: Y.YMapEvent<CanonInfo>, tr: Y.Transaction): void => {
    this.canonDirty = true;
    const fromRelay = (this.provider && tr.origin === this.provider) || (tr.origin === TAB_ORIGIN && this.syncer.leaderStatus?.synced);
    const showAt = this.atVisible;
    for (const id of event.keysChanged) {
      const c = this.roots.canon.get(id);
      if (!c) continue;
      if (fromRelay) this.syncer.noteRelaySeq(c.seq);
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
    if (this.loaded && !this.windowSaved && this.list.built?.length) {
      this.windowSaved = true;
      void this.saveWindow();
    }
  }

  /** Stores the newest messages as the render cache (only what the app already computed). */
  private async saveWindow(): Promise<void> {
    const all = this.list.built;
    if (!this.loaded || !all || all === this.windowSavedFor) return;
    this.windowSavedFor = all;
    await this.ctx.store.put('kv', `window:${this.threadId}`, all.slice(Math.max(0, all.length - WINDOW_SIZE))).catch(() => {});
  }

  private receipts(): ReceiptIndex {
    if (!this.receiptsCache) {
      const canon = this.roots.canon;
      const unknown: string[] = [];
      this.receiptsCache = indexReceipts(this.receiptEntries(), (id) => {
        const seq = canon.get(id)?.seq ?? this.history.get(id)?.seq ?? this.receiptSeqs.get(id);
        if (seq === undefined && !this.receiptLookups.has(id)) unknown.push(id);
        return seq;
      });
      if (unknown.length) void this.lookUpReceiptSeqs(unknown);
    }
    return this.receiptsCache;
  }

  /**
   * Live receipts, and the relay's folded receipts of the sealed messages in the window; the
   * latest `readAt` per (message, user) wins.
   */
  private receiptEntries(): Iterable<[string, Receipt]> {
    const hist = this.history.messages;
    if (!hist.some((m) => m.readBy)) return this.roots.receipts.entries();
    const all = new Map<string, Receipt>();
    for (const m of hist) for (const [user, readAt] of Object.entries(m.readBy ?? {})) all.set(receiptKey(m.id, user), { readAt });
    for (const [key, r] of this.roots.receipts.entries()) {
      const prev = all.get(key);
      if (!prev || (typeof r?.readAt === 'number' && r.readAt > prev.readAt)) all.set(key, r);
    }
    return all.entries();
  }

  /** Receipts may name messages of sealed generations: their seqs come from the history store. */
  private async lookUpReceiptSeqs(ids: string[]): Promise<void> {
    for (const id of ids) this.receiptLookups.add(id);
    const store = await this.ctx.history();
    const found = (await store?.seqsOf(this.threadId, ids).catch(() => null)) ?? new Map<string, number>();
    if (found.size === 0 || this.closed) return;
    for (const [id, seq] of found) this.receiptSeqs.set(id, seq);
    this.receiptsCache = null;
    this.scheduleNotify();
  }
}
