/**
 * Fan-out between relay instances (issue #13): an update one instance stored reaches the
 * rooms of the same thread on every other instance, and so do awareness changes, seals
 * (generation rolls) and per-user thread-list events. The transport is deliberately dumb:
 * it never delivers a message back to the instance that published it, may lose messages
 * (a reconnect, a restart of Redis), and reports reconnects so rooms can catch up from
 * the store, which holds everything that was ever published (stored before published).
 *
 * Implementations: InProcessFanout (one instance; the default) and RedisFanout
 * (SKEIN_REDIS_URL). Both pass tests/integration/fanout-conformance.test.ts.
 */
import type { ThreadListEvent } from '../../shared/api-types.ts';

/** A stored update of a thread's live document (client, relay or ingested). */
export interface FanoutUpdate {
  kind: 'update';
  threadId: string;
  /** Generation of the live document the update belongs to. */
  generation: number;
  /** The publishing room (instance id and load nonce): counters restart with a new room. */
  origin: string;
  /** Per-origin, per-thread position, 1, 2, 3…: a jump means a message was missed. */
  n: number;
  /** The publishing room's own Yjs client id: structs of it count as the relay's everywhere. */
  relayClient: number;
  update: Uint8Array;
}

/** An awareness (presence) update of a thread's peers on the publishing instance. */
export interface FanoutAwareness {
  kind: 'awareness';
  threadId: string;
  origin: string;
  update: Uint8Array;
}

/** The publishing instance rolled `generation` of the thread: rooms holding it must seal. */
export interface FanoutSealed {
  kind: 'sealed';
  threadId: string;
  origin: string;
  generation: number;
}

/**
 * The thread's stored row or messages changed outside any room (AT bridge outcomes, archive,
 * retry): rooms re-read meta and canon from the store and write what changed.
 */
export interface FanoutRefresh {
  kind: 'refresh';
  threadId: string;
  origin: string;
}

/**
 * Messages of the thread published by `origin` were lost on the way (its publish failed
 * while the transport was down): receivers catch up from the store. Sent by the transport
 * once it is back, since a lost last message leaves no counter jump behind.
 */
export interface FanoutGap {
  kind: 'gap';
  threadId: string;
  origin: string;
}

/**
 * The publishing room's position (the `n` of its latest update), sent a moment after it
 * published updates: a receiver that saw less lost the last ones, and no later update would
 * tell it (the stream stopped). It catches up from the store.
 */
export interface FanoutPosition {
  kind: 'position';
  threadId: string;
  generation: number;
  origin: string;
  n: number;
}

export type ThreadFanoutMessage = FanoutUpdate | FanoutAwareness | FanoutSealed | FanoutRefresh | FanoutGap | FanoutPosition;

/** A per-user thread-list event (`/v1/events`), delivered to every instance. */
export interface FanoutUserEvent {
  userIds: string[];
  event: ThreadListEvent;
}

/** Receives the messages of one subscribed thread. */
export type ThreadHandler = (msg: ThreadFanoutMessage) => void;

/** Transport state, for `/v1/health`: `off` when there is no other instance to reach. */
export type FanoutStatus = 'off' | 'up' | 'down';

export interface Fanout {
  /** This instance's id (random per process), part of every room's origin. */
  readonly instanceId: string;
  /** Sends a thread message to the other instances holding the thread. Never throws: a lost message is a gap. */
  publish(msg: ThreadFanoutMessage): void;
  /** Sends a user event to every other instance. Never throws. */
  publishUserEvent(e: FanoutUserEvent): void;
  /**
   * Receives the thread's messages from other instances until `unsubscribe`. Resolves once
   * the subscription is active: anything stored after that is either delivered or caught up.
   * One handler per thread (the loaded room).
   */
  subscribe(threadId: string, handler: ThreadHandler): Promise<void>;
  unsubscribe(threadId: string): Promise<void>;
  /** Receives user events published by other instances. */
  onUserEvent(handler: (e: FanoutUserEvent) => void): void;
  /**
   * Called after the transport reconnected: messages may have been lost meanwhile, so every
   * subscribed room catches up from the store.
   */
  onResync(handler: () => void): void;
  status(): FanoutStatus;
  /** Checks the transport now (Redis PING), for `/v1/health`. */
  ping(): Promise<FanoutStatus>;
  close(): Promise<void>;
}
