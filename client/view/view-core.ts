/**
 * The machinery under a ThreadView (thread-view.ts, its public API): the parts of a view
 * (live generation, history window, message list, sync state, relay connection, leader
 * election, receipts, render cache, writer) built and wired to one another, the live
 * generation's observers, and the hosts each part is given. Split from ThreadView so that
 * neither file is a wall of both.
 */
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { CanonInfo, MessageRecord, ThreadRoots } from '../../shared/schema.ts';
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
import type { ThreadMetaView, ViewContext } from './view-context.ts';
import type { ThreadView } from './thread-view.ts';

/** Transaction origin of this tab's own edits. */
const LOCAL_ORIGIN = Symbol('skein-local');

/** Sealed messages shown at first (more with `loadOlder`). */
const FIRST_HISTORY_PAGE = 50;

/** The parts of a thread view and their wiring; `ThreadView` adds the public API. */
export abstract class ViewCore {
  readonly threadId: string;
  /**
   * Presence of this client. It belongs to the view, not to a generation's document, so it
   * survives a roll (it only borrows a client id from its own small document).
   */
  readonly awareness = new awarenessProtocol.Awareness(new Y.Doc());
  protected readonly presenceState: Presence;
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

  protected readonly generations: GenerationFollower;
  protected readonly history: HistoryWindow;
  protected readonly list: MessageList;
  protected readonly syncer: ViewSync;
  protected readonly leadership: Leadership;
  protected readonly link: ViewConnection;
  protected readonly notifier: ViewNotifier<ThreadView>;
  protected readonly receiptIndex: ViewReceipts;
  protected readonly renderWindow: RenderWindow;
  private readonly outcomes: SendOutcomes;
  protected readonly unreadGap: UnreadGap;
  protected readonly writer: ViewWriter;
  protected loaded = false;
  protected closed = false;
  private canonDirty = true;
  /** The render cache of the last visit, shown until the local copy is loaded. */
  protected window: ViewMessage[] | null = null;
  protected revalidateTimer: ReturnType<typeof setInterval> | null = null;
  protected autoLoadStoppedAt = -1;
  protected readonly offThreads: () => void;

  private resolveRelaySynced: () => void = () => {};
  /** Resolves once this tab (or the tab holding the connection) has synced with the relay. */
  readonly relaySynced: Promise<void> = new Promise((r) => (this.resolveRelaySynced = r));

  constructor(protected readonly ctx: ViewContext) {
    this.threadId = ctx.threadId;
    this.notifier = new ViewNotifier<ThreadView>(this as unknown as ThreadView, {
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

  protected get gen(): LiveGeneration {
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
      getToken: () => ctx.getToken(),
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
      },
    };
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

  protected unbind(g: LiveGeneration): void {
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

  protected scheduleNotify = (): void => this.notifier.schedule();
}
