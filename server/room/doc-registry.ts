/**
 * Keeps loaded thread rooms. A room loads on first use and unloads once it has had no
 * connection for `idleUnloadMs`, so memory follows active threads, not all threads.
 */
import type { Logger } from '../ops/logger.ts';
import type { Store, ThreadRow } from '../store/store.ts';
import type { ThreadFanoutMessage } from '../fanout/fanout.ts';
import { RoomBrokenError, RoomSealedError, ThreadRoom, type ThreadRoomOptions } from './thread-room.ts';

export interface DocRegistryOptions extends ThreadRoomOptions {
  idleUnloadMs: number;
}

export class DocRegistry {
  private readonly rooms = new Map<string, Promise<ThreadRoom>>();
  private readonly unloading = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The loaded room of each thread: a sealed room's late callbacks must not touch its successor. */
  private readonly current = new Map<string, ThreadRoom>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: DocRegistryOptions,
  ) {
    // The transport reconnected: messages may be lost, every loaded room re-reads its log.
    opts.fanout?.onResync(() => {
      for (const room of this.current.values()) room.catchUp();
    });
  }

  /** Number of documents in memory. */
  get size(): number {
    return this.rooms.size;
  }

  /** Returns the loaded room without loading it. */
  peek(threadId: string): Promise<ThreadRoom> | undefined {
    return this.rooms.get(threadId);
  }

  /** Returns the room of `thread`, loading it if needed, and cancels a pending unload. */
  async acquire(thread: ThreadRow): Promise<ThreadRoom> {
    this.cancelUnload(thread.id);
    const existing = this.rooms.get(thread.id);
    if (existing) return existing;
    const loading = (async () => {
      await this.unloading.get(thread.id);
      const started = performance.now();
      const room = await this.loadSubscribed(thread);
      room.onEmpty = (r) => this.scheduleUnload(r);
      room.onBroken = (r) => void this.unload(r.id);
      room.onSealed = (r) => void this.unload(r.id);
      this.current.set(thread.id, room);
      this.log.info({ event: 'doc_loaded', threadId: thread.id, ms: Math.round(performance.now() - started) }, 'document loaded');
      return room;
    })();
    this.rooms.set(thread.id, loading);
    loading.catch(() => this.rooms.delete(thread.id));
    return loading;
  }

  /**
   * Subscribes to the thread's fan-out before reading its log: whatever another instance
   * stores after the read is then delivered (messages arriving during the load are kept and
   * applied after it; applying an update twice changes nothing).
   */
  private async loadSubscribed(thread: ThreadRow): Promise<ThreadRoom> {
    const fanout = this.opts.fanout;
    if (!fanout) return ThreadRoom.load(thread, this.store, this.log, this.opts);
    let room: ThreadRoom | null = null;
    const early: ThreadFanoutMessage[] = [];
    await fanout.subscribe(thread.id, (m) => (room ? room.receiveRemote(m) : early.push(m)));
    try {
      room = await ThreadRoom.load(thread, this.store, this.log, this.opts);
    } catch (err) {
      await fanout.unsubscribe(thread.id);
      throw err;
    }
    for (const m of early) room.receiveRemote(m);
    return room;
  }

  /**
   * Runs `work` on the thread's live room; when the room's generation is sealed meanwhile,
   * once more on the next generation's room.
   */
  async withLiveRoom<T>(thread: ThreadRow, work: (room: ThreadRoom) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const room = await this.acquire(thread);
      try {
        return await work(room);
      } catch (err) {
        // The sealed or broken room is unloading already (onSealed, onBroken); acquire loads
        // its successor from what the store holds.
        if (!(err instanceof RoomSealedError || err instanceof RoomBrokenError) || attempt >= 2) throw err;
      } finally {
        this.release(room);
      }
    }
  }

  /**
   * Tells other instances' rooms of the thread that its row or messages changed in the store
   * outside a room (their canon or meta may be stale); this instance's room is updated by the caller.
   */
  announce(threadId: string): void {
    const fanout = this.opts.fanout;
    fanout?.publish({ kind: 'refresh', threadId, origin: fanout.instanceId });
  }

  /** Lets a room the relay itself used (e.g. for ingest) unload once idle, if nobody is connected. */
  release(room: ThreadRoom): void {
    if (room.conns.size === 0 && this.current.get(room.id) === room) this.scheduleUnload(room);
  }

  private cancelUnload(threadId: string): void {
    const t = this.timers.get(threadId);
    if (t) clearTimeout(t);
    this.timers.delete(threadId);
  }

  private scheduleUnload(room: ThreadRoom): void {
    if (this.current.get(room.id) !== room) return;
    this.cancelUnload(room.id);
    const t = setTimeout(() => {
      this.timers.delete(room.id);
      if (room.conns.size === 0 && this.current.get(room.id) === room) void this.unload(room.id);
    }, this.opts.idleUnloadMs);
    t.unref();
    this.timers.set(room.id, t);
  }

  /** Unloads one room now (idle timeout, storage failure, shutdown). */
  async unload(threadId: string): Promise<void> {
    const loading = this.rooms.get(threadId);
    if (!loading) return;
    this.rooms.delete(threadId);
    this.current.delete(threadId);
    this.cancelUnload(threadId);
    const done = (async () => {
      const room = await loading;
      try {
        await room.unload();
      } finally {
        await this.opts.fanout?.unsubscribe(threadId);
      }
      this.log.info({ event: 'doc_unloaded', threadId }, 'document unloaded');
    })();
    this.unloading.set(threadId, done);
    try {
      await done;
    } catch (err) {
      this.log.error({ event: 'unload_failed', threadId, err: String(err) }, 'unloading failed');
    } finally {
      if (this.unloading.get(threadId) === done) this.unloading.delete(threadId);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.rooms.keys()].map((id) => this.unload(id)));
  }
}
