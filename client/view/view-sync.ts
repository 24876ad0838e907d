/**
 * A thread view's sync state machine driver (sync-state.ts decides, this runs it): the
 * relay's last known seq, validation of the local window against it, scheduled and manual
 * resyncs (scoped to the thread: sync step 1 on the open socket, a reconnect, or asking the
 * leader tab), and the leader's connection status shared with the other tabs.
 */
import type { WebsocketProvider } from 'y-websocket';
import { validateSequence } from '../../shared/sequence-validation.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import type { LocalStore } from '../local/local-store.ts';
import { nextSync, sendSyncStep1 } from '../link/relay-link.ts';
import { type Connection, type SyncEvent, type SyncState, initialSyncState, nextSyncState } from './sync-state.ts';
import type { LeaderStatus } from '../tabs/tab-channel.ts';
import type { ThreadList } from '../threads/thread-list.ts';

export interface SyncHost {
  threadId: string;
  threads: ThreadList;
  store: LocalStore;
  whenReady(): Promise<void>;
  isLoaded(): boolean;
  isClosed(): boolean;
  isLeader(): boolean;
  provider(): WebsocketProvider | null;
  generation(): LiveGeneration;
  /** Canonical seqs held locally (history window, baseSeq, live canon). */
  localSeqs(): Iterable<number>;
  /** Moves to a newer generation when the thread list names one. */
  followListed(): Promise<void>;
  notify(): void;
  onConnectionChange(): void;
  onReconnected(): void;
  /** This tab (or the leader) completed a sync with the relay. */
  onRelaySynced(): void;
}

const RESYNC_TIMEOUT_MS = 20_000;

export class ViewSync {
  state: SyncState = { ...initialSyncState(), connection: 'connecting' };
  /** Names of the sync states went through, oldest first (bounded). */
  readonly history: SyncState['state'][] = [this.state.state];
  resyncCount = 0;
  /** The leader's status, in a tab without the relay connection. */
  leaderStatus: LeaderStatus | null = null;
  /** Highest seq seen from the relay in this session (after a completed sync), or null. */
  private relaySeenMax: number | null = null;
  private resyncRunning = false;
  private resyncTimer: ReturnType<typeof setTimeout> | null = null;
  private resyncAttempts = 0;
  private validWaiters = new Set<() => void>();

  constructor(private readonly host: SyncHost) {}

  /** Restores the last sync time persisted by an earlier session. */
  restoreLastSyncedAt(at: number | undefined): void {
    if (at && this.state.lastSyncedAt === null) this.state = { ...this.state, lastSyncedAt: at };
  }

  currentConnection(): Connection {
    const p = this.host.provider();
    if (p) return p.wsconnected ? 'online' : p.wsconnecting ? 'connecting' : 'offline';
    return this.leaderStatus?.connection ?? 'connecting';
  }

  lastKnownBackendSeq(): number | undefined {
    const listed = this.host.threads.lastSeq(this.host.threadId);
    if (listed === undefined && this.relaySeenMax === null) return undefined;
    return Math.max(listed ?? 0, this.relaySeenMax ?? 0);
  }

  /** A canon entry arrived from the relay (directly or through the leader). */
  noteRelaySeq(seq: number): void {
    if (seq <= (this.relaySeenMax ?? 0)) return;
    this.relaySeenMax = seq;
    this.host.threads.noteSeq(this.host.threadId, seq);
  }

  validate(): void {
    if (!this.host.isLoaded() || this.host.isClosed()) return;
    this.dispatch({ type: 'validate', seqs: this.host.localSeqs(), lastKnownBackendSeq: this.lastKnownBackendSeq() });
  }

  /** Called on every change of the live document: wakes `untilValid` waiters. */
  changed(): void {
    for (const w of [...this.validWaiters]) w();
  }

  dispatch(e: SyncEvent): void {
    const h = this.host;
    if (h.isClosed()) return;
    const prev = this.state;
    const { state, effects } = nextSyncState(prev, e);
    this.state = state;
    if (state.state !== prev.state) {
      this.history.push(state.state);
      if (this.history.length > 100) this.history.shift();
    }
    if (state.state === 'SYNCED') this.resyncAttempts = 0;
    if (state !== prev) h.notify();
    if (state.connection !== prev.connection) {
      h.onConnectionChange();
      this.publishStatus();
    }
    for (const effect of effects) {
      if (effect === 'resync') this.scheduleResync();
      if (effect === 'revalidate') {
        if (e.type === 'connection') h.onReconnected();
        this.validate();
      }
    }
  }

  /** Fetches this thread's backend seq (when `fetch`) and validates. */
  async revalidate(fetch = false): Promise<void> {
    if (fetch) await this.host.threads.refreshThread(this.host.threadId).catch(() => {});
    this.validate();
  }

  /** This tab's provider synced with the relay. */
  relaySynced(maxLocalSeq: number): void {
    this.relaySeenMax = maxLocalSeq;
    this.host.threads.noteSeq(this.host.threadId, maxLocalSeq);
    const at = Date.now();
    void this.host.store.put('kv', `synced:${this.host.threadId}`, at).catch(() => {});
    this.dispatch({ type: 'synced_with_relay', at });
    this.publishStatus();
  }

  /** The leader tab's status (ignored by the leader itself). */
  leaderSaid(s: LeaderStatus, maxLocalSeq: number): void {
    if (this.host.provider()) return;
    this.leaderStatus = s;
    if (s.synced) {
      this.host.onRelaySynced();
      this.relaySeenMax = Math.max(this.relaySeenMax ?? 0, maxLocalSeq);
      if (s.lastSyncedAt && s.lastSyncedAt !== this.state.lastSyncedAt) this.dispatch({ type: 'synced_with_relay', at: s.lastSyncedAt });
    }
    this.dispatch({ type: 'connection', connection: s.connection });
  }

  publishStatus(): void {
    const p = this.host.provider();
    if (!p || this.host.isClosed()) return;
    this.host.generation().tabs.publishStatus({ connection: this.currentConnection(), synced: p.synced, lastSyncedAt: this.state.lastSyncedAt });
  }

  private scheduleResync(): void {
    if (this.resyncRunning || this.resyncTimer || this.host.isClosed()) return;
    const delay = this.resyncAttempts === 0 ? 0 : Math.min(1000 * 2 ** (this.resyncAttempts - 1), 60_000);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      void this.runResync();
    }, delay);
  }

  /**
   * A resync scoped to this thread: learn the relay's current seq (and generation), then
   * make the relay send everything this copy misses (the leader asks again on its socket or
   * reconnects, which runs the y-websocket sync handshake; another tab asks the leader to).
   */
  async runResync(): Promise<void> {
    const h = this.host;
    if (this.resyncRunning || h.isClosed()) return;
    this.resyncRunning = true;
    this.resyncAttempts++;
    this.resyncCount++;
    this.dispatch({ type: 'resync_started' });
    try {
      await h.whenReady();
      try {
        await h.threads.refreshThread(h.threadId);
      } catch {
        return; // relay unreachable: revalidated when the connection comes back
      }
      await h.followListed();
      this.validate();
      if (this.lastValidationOk()) return;
      const p = h.provider();
      if (p) {
        if (p.wsconnected && p.ws && p.synced) {
          sendSyncStep1(p, h.generation().doc);
          await withTimeout(this.untilValid(), RESYNC_TIMEOUT_MS);
        } else {
          const synced = nextSync(p);
          if (!p.wsconnected && !p.wsconnecting) p.connect();
          await withTimeout(synced, RESYNC_TIMEOUT_MS);
        }
      } else {
        h.generation().tabs.requestResync();
        await withTimeout(this.untilValid(), RESYNC_TIMEOUT_MS);
      }
    } finally {
      this.resyncRunning = false;
      this.dispatch({ type: 'resync_finished' });
      this.validate();
    }
  }

  close(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
  }

  /** Resolves when the local copy validates against the backend seq (checked on every change). */
  private untilValid(): Promise<void> {
    return new Promise<void>((resolve) => {
      // Checked on every change of whichever generation is live (a roll swaps documents).
      const check = () => {
        if (!this.lastValidationOk() && !this.host.isClosed()) return;
        this.validWaiters.delete(check);
        resolve();
      };
      this.validWaiters.add(check);
      check();
    });
  }

  private lastValidationOk(): boolean {
    return validateSequence(this.host.localSeqs(), this.lastKnownBackendSeq()) === 'validated';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | void> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}
