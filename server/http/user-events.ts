/**
 * Per-user push channel: small JSON events about a user's thread list (a thread that
 * includes them was created, archived or reopened), so clients refresh their list at once
 * instead of polling. In-process: with several relay instances (issue 13) the same publish
 * goes through the fan-out bus.
 */
import type { WebSocket } from 'ws';
import type { Fanout } from '../fanout/fanout.ts';

export type { ThreadListEvent } from '../../shared/api-types.ts';
import type { ThreadListEvent } from '../../shared/api-types.ts';

export class UserEvents {
  private readonly sockets = new Map<string, Set<WebSocket>>();
  private readonly listeners = new Set<(userIds: Iterable<string>, event: ThreadListEvent) => void>();

  /** `fanout`: events published here also reach the sockets held by other relay instances. */
  constructor(private readonly fanout?: Fanout) {
    fanout?.onUserEvent((e) => this.deliver(e.userIds, e.event));
  }

  /** In-process subscribers (the demo bot); returns the unsubscribe function. */
  listen(fn: (userIds: Iterable<string>, event: ThreadListEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Open event sockets of `userId`. */
  count(userId: string): number {
    return this.sockets.get(userId)?.size ?? 0;
  }

  add(userId: string, ws: WebSocket): void {
    let set = this.sockets.get(userId);
    if (!set) this.sockets.set(userId, (set = new Set()));
    set.add(ws);
  }

  remove(userId: string, ws: WebSocket): void {
    const set = this.sockets.get(userId);
    if (!set) return;
    set.delete(ws);
    if (set.size === 0) this.sockets.delete(userId);
  }

  /** Sends `event` to every open event socket of each of `userIds`. */
  publish(userIds: Iterable<string>, event: ThreadListEvent): void {
    const users = [...userIds];
    this.fanout?.publishUserEvent({ userIds: users, event });
    this.deliver(users, event);
  }

  /** Sends to this instance's sockets and in-process listeners. */
  private deliver(users: string[], event: ThreadListEvent): void {
    const frame = JSON.stringify(event);
    for (const fn of this.listeners) fn(users, event);
    for (const u of users) for (const ws of this.sockets.get(u) ?? []) if (ws.readyState === ws.OPEN) ws.send(frame);
  }

  closeAll(code: number, reason: string): void {
    for (const set of this.sockets.values()) for (const ws of set) ws.close(code, reason);
    this.sockets.clear();
  }
}
