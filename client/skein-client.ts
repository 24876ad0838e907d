/**
 * The SDK entry point: one client per (relay, signed-in user). It owns the local store,
 * the cached thread list and capabilities, and the open thread views.
 */
import { GuestApi } from './local/guest.ts';
import { HistoryStore } from './history/history-store.ts';
import { LocalStore, dbPrefix, deleteDatabase } from './local/local-store.ts';
import { type Capabilities, type NewThreadInput, RelayApi, type ThreadSummary } from './link/relay-api.ts';
import { type Diagnostic, SendQueue } from './local/send-queue.ts';
import { type Connection } from './view/sync-state.ts';
import { type TelemetryHook, emitter } from './telemetry.ts';
import { ThreadList } from './threads/thread-list.ts';
import { type PushState, ThreadPush } from './threads/thread-push.ts';
import { ThreadView } from './view/thread-view.ts';
import { ReactionRemovals } from './view/reaction-removals.ts';

export interface SkeinClientOptions {
  /** Base URL of the relay, e.g. `https://chat.example.com` (its `/v1` API and `/v1/sync`). Not used by a guest. */
  relayUrl?: string;
  /** The signed-in user (the `sub` of the tokens); a guest is `guest` unless given. */
  userId?: string;
  /** Returns a bearer token for the relay; called for each request and connection. Not used by a guest. */
  getToken?: () => string | Promise<string>;
  /**
   * Guest mode: threads live only in this browser (IndexedDB, shared across its tabs) and no
   * network request is made at all. `uploadGuestThreads` moves them to a relay after sign-in.
   */
  guest?: boolean;
  /** WebSocket implementation where there is no global one (Node: the `ws` package). */
  WebSocketPolyfill?: typeof WebSocket;
  /** Receives telemetry events (ids, timings, codes; never message text). */
  telemetry?: TelemetryHook;
  /** How often an open thread is validated against the relay again; 0 turns it off. Default 5 min. */
  revalidateIntervalMs?: number;
  /** Lifetime of failed-sync diagnostics and stale send-queue entries. Default 7 days. */
  diagnosticsTtlMs?: number;
  /** Most send-queue entries kept locally. Default 10,000. */
  maxQueuedSends?: number;
}

export interface SkeinClient {
  readonly userId: string;
  readonly relayUrl: string;
  /** Cached thread list (shows offline), newest activity first. */
  threads(): ThreadSummary[];
  /** Fetches the thread list from the relay (feeds each thread's `lastKnownBackendSeq`). */
  refreshThreads(): Promise<ThreadSummary[]>;
  /** Calls `fn` when the thread list, capabilities or connection change. */
  subscribe(fn: () => void): () => void;
  /** Capabilities as last learned from the relay (cached), or null before the first fetch. */
  capabilities(): Capabilities | null;
  /** `online` when a relay connection is up, `connecting` while trying, else `offline`. */
  readonly connection: Connection;
  /**
   * Whether the relay's push channel for thread-list changes is up. While it is, the list
   * updates by itself; while it is not, an app should poll `refreshThreads()`.
   */
  readonly threadPush: PushState;
  /** Opens a thread (rendered from IndexedDB first); opening it again returns the same view. */
  openThread(threadId: string): ThreadView;
  /** Creates a thread, or with `follow` joins another relay's thread by its at:// URI. */
  createThread(input: NewThreadInput & { id?: string }): Promise<ThreadSummary>;
  /** True for a guest client (nothing leaves the browser). */
  readonly guest: boolean;
  /** Guest clients: forgets a thread and deletes its local data (after an upload). */
  removeLocalThread(threadId: string): Promise<void>;
  archiveThread(threadId: string): Promise<void>;
  /**
   * Lets another relay's repo (its DID) into a shared thread, or out: its AT records naming
   * the thread are ingested only while it is a remote member.
   */
  setRemoteMember(threadId: string, did: string, present: boolean): Promise<ThreadSummary>;
  /** Adds a local user to a thread (owner or moderator; `SkeinRequestError` 403 otherwise). */
  addMember(threadId: string, userId: string): Promise<ThreadSummary>;
  /**
   * Removes a member (owner or moderator; anyone may remove themselves, which leaves the
   * thread and drops its local data here).
   */
  removeMember(threadId: string, userId: string): Promise<ThreadSummary | null>;
  /** Sets the thread's moderators (owner only). */
  setModerators(threadId: string, moderators: string[]): Promise<ThreadSummary>;
  /**
   * Calls `fn` with a thread's id once this user was removed from it (a 4403 from the relay,
   * a `removed` push, or the thread missing from the relay's list) and its local data was
   * dropped: IndexedDB documents, sealed-history pages, send-queue entries, the list entry.
   */
  onThreadRemoved(fn: (threadId: string) => void): () => void;
  /** Failed-sync diagnostics not yet expired. */
  diagnostics(): Promise<Diagnostic[]>;
  /** Closes everything and deletes all local data of this relay and user. */
  signOut(): Promise<void>;
  /** Closes all views and the local store (data stays). */
  close(): Promise<void>;
}

/** Creates a client; resolves once the local store and cached list are loaded (no network wait). */
export async function createSkeinClient(opts: SkeinClientOptions): Promise<SkeinClient> {
  const guest = opts.guest === true;
  if (!guest && (!opts.relayUrl || !opts.userId || !opts.getToken)) throw new Error('relayUrl, userId and getToken are required (or guest: true)');
  const userId = opts.userId ?? 'guest';
  const relayUrl = guest ? '' : opts.relayUrl!.replace(/\/+$/, '');
  const wsUrl = guest ? '' : relayUrl.replace(/^http/, 'ws') + '/v1/sync';
  const prefix = dbPrefix(guest ? 'guest' : new URL(relayUrl).origin, userId);
  const getToken = async () => (opts.getToken ? await opts.getToken() : '');
  const store = await LocalStore.open(`${prefix}:meta`);
  const api: RelayApi = guest ? new GuestApi(store, userId) : new RelayApi(relayUrl, getToken);
  const threads = new ThreadList(api, store);
  const sendQueue = new SendQueue(store, {
    maxEntries: opts.maxQueuedSends ?? 10_000,
    ttlMs: opts.diagnosticsTtlMs ?? 7 * 24 * 3600_000,
  });
  await Promise.all([threads.load(), sendQueue.load()]);
  let caps: Capabilities | null = (await store.get<Capabilities>('kv', 'capabilities')) ?? null;
  const telemetry = emitter(opts.telemetry);
  // Sealed history of every thread, opened on first use (a guest's threads never roll).
  let history: Promise<HistoryStore | null> | null = null;
  const openHistory = (): Promise<HistoryStore | null> => {
    if (guest) return Promise.resolve(null);
    history ??= (async () => {
      const name = `${prefix}:history`;
      await store.put('docs', name, { history: true }).catch(() => {});
      return HistoryStore.open(name);
    })().catch(() => null);
    return history;
  };
  const views = new Map<string, ThreadView>();
  const listeners = new Set<() => void>();
  const removedListeners = new Set<(threadId: string) => void>();
  const dropping = new Map<string, Promise<void>>();

  /**
   * Drops everything this client keeps of a thread the user no longer belongs to
   * (docs/design/membership.md): the open view, every generation's document database, the
   * sealed-history pages, send-queue entries and diagnostics, and the list entry.
   */
  const dropThread = (threadId: string): Promise<void> => {
    const running = dropping.get(threadId);
    if (running) return running;
    const work = (async () => {
      await views.get(threadId)?.close();
      const names = new Set([`${prefix}:thread:${threadId}`]);
      for (const [name, v] of await store.entries<{ threadId?: string }>('docs').catch(() => [] as Array<[string, { threadId?: string }]>)) {
        if (v?.threadId === threadId) names.add(name);
      }
      await Promise.all(
        [...names].map(async (n) => {
          await deleteDatabase(n).catch(() => {});
          await store.del('docs', n).catch(() => {});
        }),
      );
      await (await openHistory())?.dropThread(threadId).catch(() => {});
      await sendQueue.dropThread(threadId).catch(() => {});
      for (const [key] of await store.entries('kv', ReactionRemovals.prefix(threadId)).catch(() => [])) await store.del('kv', key).catch(() => {});
      threads.remove(threadId);
      telemetry({ name: 'thread_local_data_dropped', threadId, at: Date.now() });
      for (const f of [...removedListeners]) {
        try {
          f(threadId);
        } catch (err) {
          console.error('skein: removed listener failed', err);
        }
      }
    })().finally(() => dropping.delete(threadId));
    dropping.set(threadId, work);
    return work;
  };
  let closed = false;
  let lastHttpOk: boolean | null = null;

  // Called from inside y-websocket's event handlers: a throwing app listener must not
  // break the connection handshake.
  const emit = () => {
    for (const f of [...listeners]) {
      try {
        f();
      } catch (err) {
        console.error('skein: client listener failed', err);
      }
    }
  };
  threads.onChange(emit);

  const refreshCapabilities = async () => {
    try {
      caps = await api.capabilities();
      void store.put('kv', 'capabilities', caps).catch(() => {});
      for (const v of views.values()) v.invalidate();
      emit();
    } catch {
      /* offline: keep the cached ones */
    }
  };

  const refreshThreads = async () => {
    try {
      const before = threads.list().map((t) => t.id);
      const list = await threads.refresh();
      lastHttpOk = true;
      // A thread the relay no longer lists for this user: they were removed (maybe while offline).
      if (!guest) {
        const now = new Set(list.map((t) => t.id));
        await Promise.all(before.filter((id) => !now.has(id)).map((id) => dropThread(id)));
      }
      return threads.list();
    } catch (err) {
      lastHttpOk = false;
      emit();
      throw err;
    }
  };

  // Offline→online: every thread is UNKNOWN until validated again; refresh the list once.
  let reconnectRefresh: Promise<void> | null = null;
  const onReconnected = () => {
    if (reconnectRefresh || closed) return;
    reconnectRefresh = Promise.all([refreshThreads().catch(() => {}), refreshCapabilities()])
      .then(() => {
        for (const v of views.values()) void v.revalidate();
      })
      .finally(() => {
        reconnectRefresh = null;
      });
    for (const v of views.values()) v.markUnknown();
  };
  const onBrowserOnline = () => onReconnected();
  if (!guest) globalThis.addEventListener?.('online', onBrowserOnline);

  // Thread-list changes pushed by the relay; the first open of the channel refreshes too.
  let pushRefresh: Promise<unknown> | null = null;
  const WebSocketImpl = opts.WebSocketPolyfill ?? (typeof WebSocket === 'undefined' ? undefined : WebSocket);
  const push = WebSocketImpl && !guest
    ? new ThreadPush({
        url: relayUrl.replace(/^http/, 'ws') + '/v1/events',
        socketParams: () => api.socketParams(),
        WebSocketImpl,
        onEvent: (event) => {
          if (event?.change === 'removed') void dropThread(event.threadId);
          // Events in a burst share one request.
          pushRefresh ??= refreshThreads()
            .catch(() => {})
            .finally(() => (pushRefresh = null));
        },
        onState: emit,
      })
    : null;
  push?.start();

  void refreshCapabilities();
  void refreshThreads().then(
    () => {
      for (const v of views.values()) void v.revalidate();
    },
    () => {},
  );

  const client: SkeinClient = {
    userId,
    relayUrl,
    guest,
    async removeLocalThread(threadId) {
      if (!(api instanceof GuestApi)) throw new Error('only guest threads are removed locally');
      await views.get(threadId)?.close();
      await api.removeThread(threadId);
      await refreshThreads().catch(() => {});
      await deleteDatabase(`${prefix}:thread:${threadId}`);
    },
    threads: () => threads.list(),
    refreshThreads,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    capabilities: () => caps,
    get threadPush(): PushState {
      return push?.state ?? 'offline';
    },
    get connection(): Connection {
      let best: Connection = 'offline';
      for (const v of views.values()) {
        const c = v.syncInfo.connection;
        if (c === 'online') return 'online';
        if (c === 'connecting') best = 'connecting';
      }
      // With no thread open, the thread-list request tells; before it has answered the
      // relay is not known to be unreachable: `connecting`, never a false `offline`.
      if (views.size === 0) return lastHttpOk === null ? 'connecting' : lastHttpOk ? 'online' : 'offline';
      return best;
    },
    openThread(threadId) {
      if (closed) throw new Error('client is closed');
      const existing = views.get(threadId);
      if (existing) return existing;
      // The view registers each generation's database in `docs` (sign-out deletes them).
      const dbName = `${prefix}:thread:${threadId}`;
      const view = new ThreadView(
        {
          threadId,
          userId,
          guest,
          dbName,
          lockName: `${prefix}:leader:${threadId}`,
          channelName: `${prefix}:tabs:${threadId}`,
          wsUrl,
          getToken,
          WebSocketPolyfill: opts.WebSocketPolyfill,
          api,
          threads,
          store,
          sendQueue,
          telemetry,
          capabilities: () => caps,
          history: openHistory,
          revalidateIntervalMs: opts.revalidateIntervalMs ?? 5 * 60_000,
          onReconnected,
          onConnectionChange: emit,
          onClosed: (v) => {
            if (views.get(threadId) === v) views.delete(threadId);
          },
          onRemoved: () => void dropThread(threadId),
        },
      );
      views.set(threadId, view);
      return view;
    },
    async createThread(input) {
      const t = await api.createThread(input);
      await refreshThreads().catch(() => {});
      return threads.get(t.id) ?? { ...t, lastMessage: null };
    },
    async setRemoteMember(threadId, did, present) {
      const t = await api.setRemote(threadId, did, present);
      await refreshThreads().catch(() => {});
      return threads.get(t.id) ?? { ...t, lastMessage: null };
    },
    async addMember(threadId, member) {
      const t = await api.addMember(threadId, member);
      await refreshThreads().catch(() => {});
      return threads.get(t.id) ?? { ...t, lastMessage: null };
    },
    async removeMember(threadId, member) {
      const t = await api.removeMember(threadId, member);
      if (member === userId) {
        await dropThread(threadId);
        return null;
      }
      await refreshThreads().catch(() => {});
      return threads.get(t.id) ?? { ...t, lastMessage: null };
    },
    async setModerators(threadId, moderators) {
      const t = await api.setModerators(threadId, moderators);
      await refreshThreads().catch(() => {});
      return threads.get(t.id) ?? { ...t, lastMessage: null };
    },
    onThreadRemoved(fn) {
      removedListeners.add(fn);
      return () => removedListeners.delete(fn);
    },
    async archiveThread(threadId) {
      await api.archiveThread(threadId);
      await refreshThreads().catch(() => {});
    },
    diagnostics: () => sendQueue.diagnostics(),
    async signOut() {
      const names = (await store.entries('docs')).map(([name]) => name);
      await client.close();
      const all = new Set([...names, store.name]);
      // Also whatever another tab of this relay and user created.
      const listed = await indexedDB.databases?.().catch(() => []);
      for (const d of listed ?? []) if (d.name?.startsWith(prefix + ':')) all.add(d.name);
      await Promise.all([...all].map((n) => deleteDatabase(n)));
    },
    async close() {
      if (closed) return;
      closed = true;
      globalThis.removeEventListener?.('online', onBrowserOnline);
      push?.close();
      await Promise.all([...views.values()].map((v) => v.close()));
      listeners.clear();
      (await history)?.close();
      store.close();
    },
  };
  return client;
}
