/**
 * One open thread: its Yjs document persisted in IndexedDB (y-indexeddb), shared with the
 * other tabs (TabChannel), synced with the relay by the leader tab (y-websocket), and
 * presented as ordered messages with statuses, receipts, presence and a sync state.
 *
 * The view builds its parts (live generation, history window, message list, sync state,
 * relay connection, leader election, receipts, render cache, writer) and wires them together.
 */
import { type SystemEvent, orderedSystemEvents, systemEventsOf } from '../../shared/membership.ts';
import { CloseCode } from '../../shared/errors.ts';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { type CanonInfo, DEFAULT_MAX_TEXT_LENGTH, type MessageRecord, type ThreadRoots } from '../../shared/schema.ts';
import { type LifecycleHost, compactLocalCopy, deleteMessage, editMessage, setReaction } from './lifecycle.ts';
import { ReactionRemovals } from './reaction-removals.ts';
import { HistoryWindow } from '../history/history-window.ts';
import { GenerationFollower, type GenerationHost } from '../generations/generation-follower.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import { MessageList, type ViewMessage } from './message-list.ts';
import { Presence } from './presence.ts';
import { RenderWindow } from './render-window.ts';
import { SendOutcomes } from './send-outcomes.ts';
import { UnreadGap } from './unread-gap.ts';
import { type ConnectionHost, ViewConnection } from '../link/view-connection.ts';
import { ViewNotifier } from './view-notifier.ts';
import { ViewReceipts } from './view-receipts.ts';
import { type SyncHost, ViewSync } from './view-sync.ts';
import { ViewWriter } from './view-writer.ts';
import { TAB_ORIGIN } from '../tabs/tab-channel.ts';
import { type Leadership, electLeader } from '../tabs/tab-leader.ts';
import type { PresenceEntry } from './presence.ts';
import type { ReadInfo } from './receipts.ts';
import { type StreamHandle, type ViewStream, listStreams } from './stream.ts';
import type { SyncState } from './sync-state.ts';
import { SkeinError } from './view-writes.ts';
import type { HistoryStore } from '../history/history-store.ts';
import type { LocalStore } from '../local/local-store.ts';
import type { Capabilities, GenerationInfo, RelayApi } from '../link/relay-api.ts';
import type { SendQueue } from '../local/send-queue.ts';
import type { TelemetryHook } from '../telemetry.ts';
import type { ThreadList } from '../threads/thread-list.ts';

export type { PresenceEntry, ViewMessage };
export { SkeinError };

export interface ThreadMetaView {
  title: string;
  participants: string[];
  archived: boolean;
  mirror: boolean;
  createdAt: number;
  /** The thread's at:// identity when it is shared through AT: another relay follows it by this URI. */
  atUri: string | null;
  /** The owner (shared/roles.ts); null when the document does not say yet. */
  owner: string | null;
  /** Members the owner made moderators. */
  moderators: string[];
}

export interface SyncInfo extends Omit<SyncState, 'wasOffline'> {
  lastKnownBackendSeq: number | undefined;
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
  /** The client's cache of sealed history (null for a guest: its threads never roll). */
  history(): Promise<HistoryStore | null>;
  revalidateIntervalMs: number;
  /** Called when this view's relay connection came back after being lost. */
  onReconnected(): void;
  onConnectionChange(): void;
  onClosed(view: ThreadView): void;
  /** The relay refused this thread with 4403 (the user was removed, or is not a member): drop its data. */
  onRemoved(view: ThreadView): void;
}

/** Transaction origin of this tab's own edits. */
const LOCAL_ORIGIN = Symbol('skein-local');

/** Sealed messages shown at first (more with `loadOlder`). */
const FIRST_HISTORY_PAGE = 50;

/** One open thread (see the module comment); built by `SkeinClient.open`. */
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
  private readonly link: ViewConnection;
  private readonly notifier: ViewNotifier<ThreadView>;
  private readonly receiptIndex: ViewReceipts;
  private readonly renderWindow: RenderWindow;
  private readonly outcomes: SendOutcomes;
  private readonly unreadGap: UnreadGap;
  private readonly writer: ViewWriter;
  private readonly removals: ReactionRemovals;
  private loaded = false;
  private closed = false;
  private canonDirty = true;
  /** The render cache of the last visit, shown until the local copy is loaded. */
  private window: ViewMessage[] | null = null;
  private revalidateTimer: ReturnType<typeof setInterval> | null = null;
  private autoLoadStoppedAt = -1;
  private readonly offThreads: () => void;

  private resolveRelaySynced: () => void = () => {};
  /** Resolves once this tab (or the tab holding the connection) has synced with the relay. */
  readonly relaySynced: Promise<void> = new Promise((r) => (this.resolveRelaySynced = r));

  constructor(protected readonly ctx: ViewContext) {
    this.threadId = ctx.threadId;
    this.notifier = new ViewNotifier<ThreadView>(this, {
      before: () => {
        if (this.canonDirty) this.validate();
        if (this.loaded) this.renderWindow.beforeRender();
      },
      // The first full render is saved at once: a short visit still leaves a render cache.
      after: () => this.renderWindow.afterRender(),
    });
    this.presenceState = new Presence(this.awareness, ctx.userId);
    this.syncer = new ViewSync(this.syncHost());
    this.list = new MessageList({ threadId: ctx.threadId, userId: ctx.userId, telemetry: ctx.telemetry, atVisible: () => this.atVisible });
    this.history = new HistoryWindow(ctx.threadId, ctx.history, ctx.guest ? null : ctx.api, () => {
      this.canonDirty = true;
      this.receiptIndex.invalidate();
      this.scheduleNotify();
    });
    this.receiptIndex = new ViewReceipts({
      threadId: ctx.threadId,
      roots: () => this.roots,
      history: this.history,
      historyStore: ctx.history,
      isClosed: () => this.closed,
      baseSeq: () => this.gen.baseSeq,
      changed: this.scheduleNotify,
    });
    this.unreadGap = new UnreadGap(ctx.guest ? null : (after, before) => ctx.api.unreadBetween(ctx.threadId, after, before), this.scheduleNotify);
    this.outcomes = new SendOutcomes(ctx.threadId, ctx.sendQueue, ctx.telemetry);
    this.renderWindow = new RenderWindow(ctx.store, ctx.threadId, () => (this.loaded ? this.list.built : null));
    this.removals = new ReactionRemovals(ctx.store, ctx.threadId);
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
    this.writer = new ViewWriter({
      threadId: ctx.threadId,
      userId: ctx.userId,
      guest: ctx.guest === true,
      sendQueue: ctx.sendQueue,
      telemetry: ctx.telemetry,
      origin: LOCAL_ORIGIN,
      ready: this.ready,
      relaySynced: this.relaySynced,
      capabilities: () => ctx.capabilities(),
      isClosed: () => this.closed,
      archived: () => this.meta?.archived === true,
      generation: () => this.gen,
    });
    this.firstPaint = this.renderWindow.load().then((w) => {
      if (!w || this.loaded) return this.ready;
      this.window = w;
      this.scheduleNotify(); // subscribers render the cached window at once
    });
    this.link = new ViewConnection(this.connectionHost());
    this.leadership = electLeader(ctx.lockName);
    // The socket opens before the leader lock is granted (view-connection.ts, `prepare`).
    if (!ctx.guest) void this.generations.located.then(() => this.link.prepare());
    void Promise.all([this.leadership.whenLeader, this.generations.located]).then(() => this.startProvider());
    if (ctx.revalidateIntervalMs > 0) {
      this.revalidateTimer = setInterval(() => void this.syncer.revalidate(true), ctx.revalidateIntervalMs);
    }
  }

  private get gen(): LiveGeneration {
    return this.generations.current;
  }


  get doc(): Y.Doc {
    return this.gen.doc;
  }

  get roots(): ThreadRoots {
    return this.gen.roots;
  }

  get meta(): ThreadMetaView | null {
    const m = this.roots.meta;
    if (!m.has('title') && !m.has('participants')) {
      const t = this.ctx.threads.get(this.threadId);
      return t
        ? { title: t.title, participants: t.participants, archived: t.archived, mirror: t.mirror, createdAt: t.createdAt, atUri: t.atUri ?? null, owner: t.owner ?? null, moderators: t.moderators ?? [] }
        : null;
    }
    return {
      title: String(m.get('title') ?? ''),
      participants: (m.get('participants') as string[] | undefined) ?? [],
      archived: m.get('archived') === true,
      mirror: m.get('mirror') === true,
      createdAt: Number(m.get('createdAt') ?? 0),
      atUri: typeof m.get('atUri') === 'string' ? (m.get('atUri') as string) : null,
      owner: typeof m.get('owner') === 'string' ? (m.get('owner') as string) : null,
      moderators: Array.isArray(m.get('moderators')) ? (m.get('moderators') as string[]) : [],
    };
  }

  /** Membership changes of the live generation, in the order every member sees them (shared/membership.ts). */
  get systemEvents(): SystemEvent[] {
    return orderedSystemEvents(systemEventsOf(this.doc).toArray());
  }


  /** AT state is shown only when the relay's write bridge is on and the thread is mirrored. */
  get atVisible(): boolean {
    return this.ctx.capabilities()?.atproto.features.write_bridge === true && this.meta?.mirror === true;
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
      provider: () => this.link.provider,
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

  private startProvider(): Promise<void> {
    return this.ctx.guest ? Promise.resolve() : this.link.start();
  }

  private connectionHost(): ConnectionHost {
    const ctx = this.ctx;
    return {
      wsUrl: ctx.wsUrl,
      socketParams: () => ctx.api.socketParams(),
      WebSocketPolyfill: ctx.WebSocketPolyfill,
      awareness: this.awareness,
      ready: this.ready,
      isLoaded: () => this.loaded,
      isClosed: () => this.closed,
      generation: () => this.gen,
      offline: () => this.syncer.dispatch({ type: 'connection', connection: 'offline' }),
      onStatus: () => this.syncer.dispatch({ type: 'connection', connection: this.syncer.currentConnection() }),
      onSynced: () => this.onRelaySynced(),
      onSealed: (hint) => void this.generations.moveTo(hint),
      onRefused: (code, reason) => {
        this.refused = { code, reason };
        this.scheduleNotify();
        if (code === CloseCode.NOT_A_MEMBER) ctx.onRemoved(this);
      },
    };
  }

  private onRelaySynced(): void {
    this.resolveRelaySynced();
    this.syncer.relaySynced(this.maxCanonSeq());
    // The relay may have carried a reaction removed here before it learnt of the removal.
    const g = this.gen;
    void this.removals
      .reapply(g.roots, g.info.generation, (f) => {
        if (this.closed || this.gen !== g) return false;
        g.doc.transact(f, LOCAL_ORIGIN);
        return true;
      })
      .catch(() => {});
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
      disconnect: () => this.link.stop(),
      switchTo: (old, next, records) => {
        this.unbind(old);
        this.bind(next);
        this.list.reset(next.roots);
        this.receiptIndex.invalidate();
        this.canonDirty = true;
        this.rebaseCount++;
        this.ctx.telemetry({ name: 'thread_generation_rebased', threadId: this.threadId, generation: next.info.generation, reappended: records.length, at: Date.now() });
      },
      afterSwitch: (next, wasConnected) => {
        next.tabs.start();
        // Linked to the sealed generation while the move ran: that link is stale.
        if (this.link.isStale(next.info.liveDoc)) wasConnected = this.link.stop();
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
    this.purgeLocal(tr);
    this.receiptIndex.invalidate();
    this.scheduleNotify();
    this.syncer.changed();
  };

  private onMessages = (event: Y.YArrayEvent<MessageRecord>): void => {
    this.list.onMessages(event, this.roots);
  };

  private onCanon = (event: Y.YMapEvent<CanonInfo>, tr: Y.Transaction): void => {
    this.canonDirty = true;
    const fromRelay = (this.link.provider && tr.origin === this.link.provider) || (tr.origin === TAB_ORIGIN && this.syncer.leaderStatus?.synced);
    const showAt = this.atVisible;
    for (const id of event.keysChanged) {
      const c = this.roots.canon.get(id);
      if (!c) continue;
      if (fromRelay) this.syncer.noteRelaySeq(c.seq);
      this.outcomes.note(id, c, event.keys.get(id)?.action === 'add', showAt);
    }
  };

  private scheduleNotify = (): void => this.notifier.schedule();

  /** Names of the sync states this view went through, oldest first (bounded). */
  get syncHistory(): SyncState['state'][] {
    return this.syncer.history;
  }

  /** Number of resyncs started (manual, automatic, or asked for by another tab). */
  get resyncCount(): number {
    return this.syncer.resyncCount;
  }

  /** The live generation this view reads and writes. */
  /** The live generation's document (it changes when the relay seals a generation). */

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


  /** Sync state, connection and the data for an "offline – latest messages at …" banner. */
  get syncInfo(): SyncInfo {
    const { wasOffline: _w, ...rest } = this.syncer.state;
    return { ...rest, lastKnownBackendSeq: this.syncer.lastKnownBackendSeq() };
  }

  /** The relay reports the AT bridge lagging or failing (only meaningful when AT is shown). */
  get atDegraded(): boolean {
    return this.atVisible && this.ctx.capabilities()?.atproto.degraded === true;
  }

  /** Who read a message and when, oldest first. */
  readers(messageId: string): ReadInfo[] {
    return this.receiptIndex.index.readers.get(messageId) ?? [];
  }

  /**
   * Highest seq `userId` has read (0 when nothing). A receipt may name a message of a sealed
   * generation: its seq comes from the live canon, the history window or the history store.
   */
  readUpTo(userId: string): number {
    return this.receiptIndex.index.readUpTo.get(userId) ?? 0;
  }

  /**
   * Canonical messages by others after the signed-in user's read position. When that position
   * is below the loaded window, the relay counts the messages in between (unread-gap.ts);
   * until it answered, every one of them counts (an upper bound).
   */
  get unreadCount(): number {
    const canonical: Array<{ authorId: string; seq: number }> = [];
    for (const m of this.messages) if (m.seq !== undefined) canonical.push({ authorId: m.authorId, seq: m.seq });
    const lowest = canonical[0]?.seq ?? this.gen.baseSeq + 1;
    return this.unreadGap.count(canonical, this.ctx.userId, this.readUpTo(this.ctx.userId), lowest);
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
    return this.notifier.subscribe(fn);
  }

  // ---------------------------------------------------------------- writing

  /**
   * Appends a message to the local document and resolves with its id once it is
   * durable in IndexedDB; from then on it reaches the relay even if the tab closes.
   */
  send(text: string, opts: { replyTo?: string } = {}): Promise<string> {
    return this.writer.send(text, opts);
  }

  /**
   * Starts a streamed reply (an AI answer, a long paste): it grows live in every tab and on
   * every device, then `finish()` makes it an ordinary message with the same id.
   */
  startStream(opts: { replyTo?: string } = {}): StreamHandle {
    return this.writer.startStream(opts);
  }

  /** Streams in this thread not finished as messages: live (`streaming`) or `interrupted`. */
  get streams(): ViewStream[] {
    return listStreams(this.roots, this.ctx.userId, (id) => this.roots.canon.has(id) || this.messages.some((m) => m.id === id));
  }


  /**
   * Appends messages written elsewhere (a guest session being uploaded) as the signed-in
   * user's, keeping their ids and order; ids the thread already has are skipped, so a retry
   * never doubles one. Waits for the relay's copy first. Resolves with how many were added.
   */
  importMessages(list: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string }>): Promise<number> {
    return this.writer.importMessages(list);
  }

  // ------------------------------------------------------ edit, delete, react

  /**
   * Edits the signed-in user's message: every member sees the new text marked edited, and
   * may see the earlier versions (`versions`). Resolves once durable in IndexedDB; made
   * offline, it reaches the relay on reconnect. Seq and order never change.
   */
  edit(messageId: string, text: string): Promise<void> {
    return editMessage(this.lifecycleHost(), messageId, text);
  }

  /**
   * Deletes a message: the signed-in user's own, or anyone's for a thread moderator. It shows
   * as deleted at once (`redacted`, empty text, same place); the relay then removes its text
   * from every copy. Made offline, it applies on reconnect.
   */
  delete(messageId: string): Promise<void> {
    const m = this.roots.meta;
    const meta = {
      participants: (m.get('participants') as string[] | undefined) ?? this.meta?.participants ?? [],
      ...(typeof m.get('owner') === 'string' ? { owner: m.get('owner') as string } : {}),
      ...(Array.isArray(m.get('moderators')) ? { moderators: m.get('moderators') as string[] } : {}),
    };
    return deleteMessage(this.lifecycleHost(), messageId, meta);
  }

  /** Adds the signed-in user's reaction `emoji` (one emoji) to a message. */
  react(messageId: string, emoji: string): Promise<void> {
    return setReaction(this.lifecycleHost(), messageId, emoji, true);
  }

  /** Removes the signed-in user's reaction `emoji` from a message. */
  unreact(messageId: string, emoji: string): Promise<void> {
    return setReaction(this.lifecycleHost(), messageId, emoji, false);
  }

  /** The versions of a message, oldest first, the current text last (empty once deleted). */
  versions(messageId: string): Array<{ text: string; editedAt?: number }> {
    if (this.roots.redactions.has(messageId) || this.history.get(messageId)?.redacted) return [];
    return this.list.versions(this.roots, this.history, messageId);
  }

  private lifecycleHost(): LifecycleHost {
    return {
      userId: this.ctx.userId,
      origin: LOCAL_ORIGIN,
      maxTextLength: () => this.ctx.capabilities()?.limits.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH,
      generation: () => this.gen,
      message: (id) => this.messages.find((m) => m.id === id),
      isClosed: () => this.closed,
      removals: this.removals,
    };
  }

  /**
   * A deletion reached this tab: the sealed-history cache loses the text, and once the relay
   * removed records from the document, the IndexedDB copy is rewritten from the current state
   * (y-indexeddb otherwise keeps the updates that carried the text).
   */
  private purgeLocal(tr: Y.Transaction): void {
    const roots = this.roots;
    if (tr.changed.has(roots.redactions as unknown as Y.AbstractType<Y.YEvent<any>>)) {
      const sealed = [...roots.redactions.keys()].map((id) => this.history.get(id)).filter((m) => m && !m.redacted);
      if (sealed.length) void this.history.remember(sealed.map((m) => ({ ...m!, text: '', redacted: true as const })));
    }
    if (roots.redactions.size && tr.changed.has(roots.messages as unknown as Y.AbstractType<Y.YEvent<any>>) && tr.deleteSet.clients.size > 0) {
      const gen = this.gen;
      if (this.compactTimer) return;
      this.compactTimer = setTimeout(() => {
        this.compactTimer = null;
        if (!this.closed && gen === this.gen) void compactLocalCopy(gen).catch(() => {});
      }, 0);
    }
  }

  private compactTimer: ReturnType<typeof setTimeout> | null = null;

  /** Records that the signed-in user read `messageId` now (never moves a receipt back). */
  markRead(messageId: string): boolean {
    return this.writer.markRead(messageId);
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
    this.notifier.close();
    this.syncer.close();
    await this.renderWindow.close();
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    this.presenceState.close();
    this.offThreads();
    this.link.stop();
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

}
