/**
 * Fan-out through Redis pub/sub (SKEIN_REDIS_URL): one channel per thread
 * (`<prefix>t:<threadId>`), subscribed while a room of the thread is loaded, and one
 * channel for user events (`<prefix>u`). Two connections, as Redis requires: a subscriber
 * and a publisher. Pub/sub is at-most-once; rooms detect lost messages by their counters
 * and catch up from the store, and every reconnect of the subscriber triggers a resync, once
 * its channels are subscribed again (a catch-up read before that could miss an update
 * published in between), and rooms announce their position after a burst (a lost last
 * update leaves no counter jump behind).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../ops/logger.ts';
import type { Fanout, FanoutStatus, FanoutUserEvent, ThreadFanoutMessage, ThreadHandler } from './fanout.ts';
import { decodeThreadMessage, encodeThreadMessage } from './fanout-wire.ts';

export interface RedisFanoutOptions {
  /** redis:// or rediss:// URL (may hold a password: never logged). */
  url: string;
  /** Channel prefix; instances that serve each other share it. Default `skein:`. */
  prefix?: string;
  log: Logger;
}

export class RedisFanout implements Fanout {
  readonly instanceId = randomUUID();
  private readonly sub: Redis;
  private readonly pub: Redis;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly threads = new Map<string, ThreadHandler>();
  private readonly userHandlers: Array<(e: FanoutUserEvent) => void> = [];
  private readonly resyncHandlers: Array<() => void> = [];
  private readySeen = false;
  /** The subscriber's channels are subscribed on its current connection (confirmed by Redis). */
  private subscribed = false;
  private pubReadySeen = false;
  /** Threads whose publish failed: announced as gaps once the publisher is back. */
  private readonly lost = new Set<string>();
  private announceTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(opts: RedisFanoutOptions) {
    this.prefix = opts.prefix ?? 'skein:';
    this.log = opts.log;
    const common = {
      // Reconnect forever, quickly: an instance cut off from Redis serves only its own peers.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      lazyConnect: true,
    };
    // Named by prefix and role (CLIENT LIST shows whose connection is whose; tests cut only theirs).
    const name = (role: string) => `${this.prefix}${role}`.replace(/\s/g, '_');
    // Resubscribed here, not by ioredis: it emits `ready` before Redis confirmed the channels.
    this.sub = new Redis(opts.url, { ...common, autoResubscribe: false, connectionName: name('sub') });
    // Fail fast while disconnected: a queued publish would arrive late and out of order with
    // the catch-up; a lost one is a gap the receiver repairs from the store.
    this.pub = new Redis(opts.url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: name('pub') });
    for (const [name, conn] of [['sub', this.sub], ['pub', this.pub]] as const) {
      // Only the message: an error may quote the URL.
      conn.on('error', (err: Error) => this.log.warn({ event: 'redis_error', conn: name, code: (err as { code?: string }).code ?? null }, 'redis connection error'));
    }
    this.sub.on('ready', () => {
      if (this.readySeen) void this.resubscribe();
      this.readySeen = true;
    });
    this.sub.on('close', () => {
      this.subscribed = false;
    });
    this.pub.on('ready', () => {
      if (this.pubReadySeen) this.announceGaps();
      this.pubReadySeen = true;
    });
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));
  }

  /** Connects both connections and subscribes to user events. */
  static async open(opts: RedisFanoutOptions): Promise<RedisFanout> {
    const f = new RedisFanout(opts);
    try {
      await Promise.all([f.sub.connect(), f.pub.connect()]);
      await f.sub.subscribe(f.userChannel);
      f.subscribed = true;
    } catch (err) {
      f.sub.disconnect();
      f.pub.disconnect();
      throw err;
    }
    return f;
  }

  /** After a reconnect: subscribes every channel again, then lets every room catch up. */
  private async resubscribe(): Promise<void> {
    try {
      await this.sub.subscribe(this.userChannel, ...[...this.threads.keys()].map((t) => this.threadChannel(t)));
    } catch {
      return; // cut again: the next `ready` retries
    }
    if (this.closed || this.sub.status !== 'ready') return;
    this.subscribed = true;
    this.log.info({ event: 'redis_resync' }, 'redis subscriber reconnected: catching up from the store');
    for (const h of this.resyncHandlers) h();
  }

  private get userChannel(): string {
    return `${this.prefix}u`;
  }

  private threadChannel(threadId: string): string {
    return `${this.prefix}t:${threadId}`;
  }

  private onMessage(channel: string, message: Buffer): void {
    if (channel === this.userChannel) {
      let e: (FanoutUserEvent & { origin?: string }) | null = null;
      try {
        e = JSON.parse(message.toString());
      } catch {
        return;
      }
      if (!e || e.origin === this.instanceId) return;
      for (const h of this.userHandlers) h({ userIds: e.userIds, event: e.event });
      return;
    }
    const threadId = channel.slice(this.threadChannel('').length);
    const handler = this.threads.get(threadId);
    if (!handler) return;
    const msg = decodeThreadMessage(message);
    // Our own messages come back on channels we subscribe to: not for us.
    if (!msg || msg.threadId !== threadId || msg.origin.startsWith(this.instanceId)) return;
    handler(msg);
  }

  publish(msg: ThreadFanoutMessage): void {
    if (this.closed) return;
    this.pub.publish(this.threadChannel(msg.threadId), encodeThreadMessage(msg)).catch(() => {
      // The receivers see a counter jump on the next message; the last one lost would leave
      // none, so the thread is announced as a gap once the publisher is back.
      if (msg.kind !== 'awareness') this.lost.add(msg.threadId);
      this.announceLater();
    });
  }

  /**
   * Announces the lost threads a moment later, never from the failed publish itself: a publish
   * fails while the client still says `ready` when Redis closed the socket under it, and an
   * announcement made at once would fail the same way, in a microtask loop that starves the
   * event loop (the instance hangs: it never even sees the close). Once `ready` again, the
   * publisher announces them anyway.
   */
  private announceLater(): void {
    if (this.announceTimer || this.closed) return;
    this.announceTimer = setTimeout(() => {
      this.announceTimer = null;
      if (this.pub.status === 'ready') this.announceGaps();
    }, 200);
    this.announceTimer.unref();
  }

  private announceGaps(): void {
    const threads = [...this.lost];
    this.lost.clear();
    if (threads.length) this.log.info({ event: 'redis_gaps_announced', threads: threads.length }, 'publisher back: lost threads announced');
    for (const threadId of threads) this.publish({ kind: 'gap', threadId, origin: this.instanceId });
  }

  publishUserEvent(e: FanoutUserEvent): void {
    if (this.closed) return;
    this.pub.publish(this.userChannel, JSON.stringify({ ...e, origin: this.instanceId })).catch(() => {});
  }

  async subscribe(threadId: string, handler: ThreadHandler): Promise<void> {
    this.threads.set(threadId, handler);
    await this.sub.subscribe(this.threadChannel(threadId));
  }

  async unsubscribe(threadId: string): Promise<void> {
    if (!this.threads.delete(threadId) || this.closed) return;
    await this.sub.unsubscribe(this.threadChannel(threadId)).catch(() => {});
  }

  onUserEvent(handler: (e: FanoutUserEvent) => void): void {
    this.userHandlers.push(handler);
  }

  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  status(): FanoutStatus {
    return this.subscribed && this.sub.status === 'ready' && this.pub.status === 'ready' ? 'up' : 'down';
  }

  async ping(): Promise<FanoutStatus> {
    try {
      const t = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 1000).unref());
      await Promise.race([this.pub.ping(), t]);
      return this.status();
    } catch {
      return 'down';
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.threads.clear();
    // No graceful QUIT: it would wait for a connection that is reconnecting.
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
