/**
 * Which generation of a thread a view lives in, and moving to a newer one
 * (docs/design/windowed-threads.md): on a 4410 from the relay, a newer `liveDoc` in the
 * thread list, or another tab's word. Moves are serialized; each opens the new generation's
 * document, rebases the old one's pending work into it (rebase.ts), lets the view switch in
 * the same task, then deletes the old local copy.
 */
import type * as awarenessProtocol from 'y-protocols/awareness';
import type { MessageRecord } from '../../shared/schema.ts';
import type { HistoryWindow } from '../history/history-window.ts';
import { LiveGeneration } from './live-generation.ts';
import { afterPendingWrites, deleteDatabase, type LocalStore } from '../local/local-store.ts';
import { applyRebase, prepareRebase } from './rebase.ts';
import { type GenerationInfo, type RelayApi, generationInfoOf } from '../link/relay-api.ts';
import type { ThreadList } from '../threads/thread-list.ts';

export interface GenerationHost {
  threadId: string;
  userId: string;
  dbName: string;
  channelName: string;
  guest: boolean;
  api: RelayApi;
  threads: ThreadList;
  store: LocalStore;
  history: HistoryWindow;
  awareness: awarenessProtocol.Awareness;
  /** Transaction origin of the view's own edits (re-appended records are its own). */
  origin: unknown;
  isClosed(): boolean;
  /** Highest canonical seq the view holds (history window and live). */
  maxSeq(): number;
  /** Stops the relay connection of the old generation; true when there was one. */
  disconnect(): boolean;
  /** Switches the view to `next` (synchronous: runs in the task that re-appended). */
  switchTo(old: LiveGeneration, next: LiveGeneration, reappended: MessageRecord[]): void;
  /** Runs once the switch is durable: reconnect, page history, notify. */
  afterSwitch(next: LiveGeneration, wasConnected: boolean): void;
}

export class GenerationFollower {
  /** The live generation the view reads and writes. */
  current: LiveGeneration;
  /**
   * Resolves once the live generation is known: from the (cached) thread list, or, when the
   * thread is not listed yet (a first open), asked of the relay. The view connects after it,
   * so a cold open goes straight to the live document instead of a sealed one answering 4410.
   */
  readonly located: Promise<void>;
  private moving: Promise<void> = Promise.resolve();

  constructor(private readonly host: GenerationHost) {
    const listed = host.threads.get(host.threadId);
    this.current = this.open(listed ? generationInfoOf(listed) : { generation: 0, baseSeq: 0, liveDoc: host.threadId });
    this.located = listed || host.guest ? Promise.resolve() : this.locate();
  }

  private async locate(): Promise<void> {
    let info: GenerationInfo;
    try {
      info = generationInfoOf(await this.host.api.getThread(this.host.threadId));
    } catch {
      return; // offline or refused: connect anyway; the relay's close code says the rest
    }
    if (info.generation > this.current.info.generation) await this.moveTo(info, true);
  }

  /** Resolves when no move is running (or queued). */
  get idle(): Promise<void> {
    return this.moving;
  }

  /**
   * At open the live generation comes from the (cached) thread list. Local work in an older
   * generation is moved into it; a newer recorded one (a stale list) is followed.
   */
  async adoptLocal(): Promise<void> {
    const h = this.host;
    if (h.isClosed() || h.guest) return;
    const local = await this.localGeneration();
    const cur = this.current.info;
    if (!local || local.generation === cur.generation) return this.record(cur);
    if (local.generation > cur.generation) return this.moveTo(local);
    this.moving = this.moving.then(async () => {
      const old = this.open(local);
      await old.loaded;
      if (!h.isClosed()) {
        const plan = await prepareRebase(old, this.current, h.history, h.maxSeq(), this.sealedState);
        applyRebase(old, this.current, plan, h.userId, h.origin);
        await afterPendingWrites(this.current.persistence.db!, 'updates');
      }
      await this.retire(old);
      await this.record(this.current.info);
    });
    return this.moving;
  }

  /** Moves to a newer generation named by the thread list (a resync relies on it). */
  followListed(): Promise<void> {
    const t = this.host.threads.get(this.host.threadId);
    if (!t || this.host.guest) return this.moving;
    const info = generationInfoOf(t);
    return info.generation > this.current.info.generation ? this.moveTo(info) : this.moving;
  }

  /**
   * Rebase onto a newer generation (invariant 4 of the design): open its document, move
   * this generation's pending work into it, switch, drop the old copy. Concurrent
   * triggers (4410, thread list, another tab) are serialized and the later ones find
   * nothing to do. `fresh`: the hint is the relay's thread row, just fetched.
   */
  moveTo(hint: Partial<GenerationInfo> & { generation: number }, fresh = false): Promise<void> {
    const h = this.host;
    this.moving = this.moving.then(async () => {
      if (h.isClosed() || h.guest || hint.generation <= this.current.info.generation) return;
      let target: GenerationInfo = { liveDoc: hint.liveDoc ?? h.threadId, baseSeq: hint.baseSeq ?? 0, generation: hint.generation };
      if (!fresh) {
        try {
          // The thread row has the new baseSeq (and maybe an even newer generation).
          const listed = generationInfoOf(await h.api.getThread(h.threadId));
          if (listed.generation >= target.generation) target = listed;
        } catch {
          if (!hint.liveDoc) return; // nowhere to go yet: the thread list will say
        }
      }
      if (target.generation <= this.current.info.generation || h.isClosed()) return;
      const old = this.current;
      old.tabs.publishGeneration(target); // the other tabs move too
      const wasConnected = h.disconnect();
      const next = this.open(target);
      // The old copy may still be loading (a move right at open): its pending work must be in it.
      await Promise.all([old.loaded, next.loaded]);
      if (h.isClosed()) return void (await next.dispose());
      const plan = await prepareRebase(old, next, h.history, h.maxSeq(), this.sealedState);
      // The sealed copy's messages are in the history store now: the window takes them in
      // before the switch (no flicker; the list shows an id once, from history). With none
      // (a first open) nothing can flicker: the page arrives after, not before, the connection.
      const windowed = h.history.setEnd(next.baseSeq, h.history.messages.length + old.roots.messages.length + 200);
      if (old.roots.messages.length > 0) await windowed;
      if (h.isClosed()) return void (await next.dispose());
      // From here to the switch, synchronous: no send can land in the old document after it.
      const records = applyRebase(old, next, plan, h.userId, h.origin);
      this.current = next;
      h.switchTo(old, next, records);
      h.threads.noteGeneration(h.threadId, target);
      await afterPendingWrites(next.persistence.db!, 'updates');
      await this.record(target);
      h.afterSwitch(next, wasConnected);
      await this.retire(old);
    });
    return this.moving;
  }

  private readonly sealedState = (generation: number): Promise<Uint8Array> => this.host.api.sealedState(this.host.threadId, generation);

  private open(info: GenerationInfo): LiveGeneration {
    const h = this.host;
    const g = new LiveGeneration(info, h.dbName, h.channelName, h.awareness);
    // Registered so that sign-out deletes it.
    void h.store.put('docs', g.dbName, { threadId: h.threadId }).catch(() => {});
    return g;
  }

  /** The generation this device last worked in, as recorded (undefined: never recorded). */
  private async localGeneration(): Promise<GenerationInfo | undefined> {
    const h = this.host;
    const g = await h.store.get<GenerationInfo>('kv', `gen:${h.threadId}`).catch(() => undefined);
    if (g) return g;
    // Written before generations existed: the bare thread id's database, if this device has one.
    const had = await h.store.get('docs', h.dbName).catch(() => undefined);
    return had ? { generation: 0, baseSeq: 0, liveDoc: h.threadId } : undefined;
  }

  private record(g: GenerationInfo): Promise<void> {
    return this.host.store.put('kv', `gen:${this.host.threadId}`, g).catch(() => {});
  }

  /** Frees a sealed generation's document and deletes its local database. */
  private async retire(old: LiveGeneration): Promise<void> {
    await old.dispose().catch(() => {});
    await deleteDatabase(old.dbName).catch(() => {});
    await this.host.store.del('docs', old.dbName).catch(() => {});
  }
}
