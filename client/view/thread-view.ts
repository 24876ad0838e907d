/**
 * One open thread: its Yjs document persisted in IndexedDB (y-indexeddb), shared with the
 * other tabs (TabChannel), synced with the relay by the leader tab (y-websocket), and
 * presented as ordered messages with statuses, receipts, presence and a sync state.
 */
import type { ViewMessage } from './message-list.ts';
import type { PresenceEntry } from './presence.ts';
import type { ReadInfo } from './receipts.ts';
import type { GenerationInfo } from '../link/relay-api.ts';
import { type StreamHandle, type ViewStream, listStreams } from './stream.ts';
import type { SyncState } from './sync-state.ts';
import type { SyncInfo } from './view-context.ts';
import { ViewCore } from './view-core.ts';
import { SkeinError } from './view-writes.ts';

export type { ViewMessage };

export type { PresenceEntry };
export type { SyncInfo, ThreadMetaView, ViewContext } from './view-context.ts';
export { SkeinError };

/** One open thread (see the module comment); built by `SkeinClient.open`. */
export class ThreadView extends ViewCore {
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
