/**
 * The leader tab's y-websocket connection for one generation of a thread: reconnects on
 * transient closes, each time with fresh socket credentials fetched after the backoff wait
 * (a single-use ticket: see RelayApi.socketParams; a failed fetch is a failed attempt, so the
 * loop outlives an outage), fetches a new ticket on 4401 (a refused token: once), reports a
 * sealed generation (4410, with the live document the relay names) and other permanent
 * refusals.
 */
import * as encoding from 'lib0/encoding';
import type * as awarenessProtocol from 'y-protocols/awareness';
import * as syncProtocol from 'y-protocols/sync';
import { WebsocketProvider } from 'y-websocket';
import type * as Y from 'yjs';
import { CloseCode, isPermanentClose, retryAfterMs } from '../../shared/errors.ts';
import { reconnectDelay, retryAfterDelay } from './backoff.ts';
import { isAuthRefusal } from './relay-api.ts';

/**
 * Reconnect window: full jitter over min(cap, base · 2^n) after the n-th failed connection.
 * The base must be y-websocket's own 100 ms (see openRelayLink).
 */
export const RECONNECT_BASE_MS = 100;
export const RECONNECT_CAP_MS = 2500;

export interface RelayLinkOptions {
  wsUrl: string;
  /** The live document's name (`/v1/sync/<liveDoc>`). */
  liveDoc: string;
  doc: Y.Doc;
  awareness: awarenessProtocol.Awareness;
  /**
   * The first connect's query parameters (`{ ticket }`, or `{ token }` for a relay without
   * tickets); null when they could not be fetched (the link fetches them).
   */
  params: Record<string, string> | null;
  /** Fresh parameters for the next connect: a ticket works once. */
  socketParams(): Promise<Record<string, string>>;
  WebSocketPolyfill?: typeof WebSocket;
  onStatus(): void;
  onSynced(): void;
  /** The relay sealed this generation; `liveDoc` is the live one when the relay named it. */
  onSealed(liveDoc: string | null): void;
  /** Refused for good (not a member, unknown thread, a policy violation, …). */
  onRefused(code: number, reason: string): void;
  isClosed(): boolean;
  /** Math.random but for tests (the reconnect jitter). */
  random?: () => number;
}


/**
 * Opens (connects) a provider with the handlers above; `tokenRetried` resets on every sync.
 * With `params` null (the first fetch failed: the relay is down) the link fetches them itself
 * and keeps trying by the backoff schedule.
 */
export function openRelayLink(o: RelayLinkOptions): WebsocketProvider {
  let tokenRetried = false;
  const p = new WebsocketProvider(o.wsUrl, o.liveDoc, o.doc, {
    connect: false,
    awareness: o.awareness,
    params: o.params ?? {},
    disableBc: true, // tabs share through TabChannel, which also forwards to the relay
    maxBackoffTime: RECONNECT_CAP_MS,
    shouldReconnect: (e: CloseEvent) => !isPermanentClose(e.code),
    ...(o.WebSocketPolyfill ? { WebSocketPolyfill: o.WebSocketPolyfill } : {}),
  });
  /** y-websocket's connect: opens a socket with `p.params` now. */
  const connectNow = p.connect.bind(p);
  /** `p.params` went into a socket already (a ticket works once), or there are none yet. */
  let paramsUsed = o.params === null;
  /** A ticket fetch is under way; it connects when it is done. */
  let fetching = false;
  /** Bumped by every reconnectFresh and every stop: an older pending one then gives up. */
  let run = 0;
  const superseded = (r: number) => r !== run || o.isClosed();
  // A stop (disconnect, or destroy, which disconnects) cancels a reconnect still waiting or
  // fetching: a stopped link must not open a socket nobody holds.
  const disconnect = p.disconnect.bind(p);
  p.disconnect = () => {
    run++;
    fetching = false;
    disconnect();
  };
  // A connect() from elsewhere (a resync) while the parameters are spent fetches fresh ones
  // first, now: no socket ever goes out with a ticket used before.
  p.connect = () => {
    if (!paramsUsed || p.ws !== null) return connectNow();
    if (!fetching) reconnectFresh(0);
  };
  /**
   * The provider builds its URL from `params` at each connect, and the last ticket is spent:
   * pause it (its own scheduled attempt then does nothing), wait `delayMs` (the backoff),
   * fetch fresh parameters, and connect. A failed fetch (the relay is down) opens no socket:
   * it counts as a failed attempt and tries again after the next backoff wait, so the loop
   * never ends while the link is wanted.
   */
  const reconnectFresh = (delayMs: number) => {
    p.shouldConnect = false;
    fetching = false;
    const r = ++run;
    setTimeout(() => {
      if (superseded(r)) return;
      fetching = true;
      o.socketParams().then(
        (params) => {
          if (superseded(r)) return;
          fetching = false;
          p.params = params;
          paramsUsed = false;
          connectNow();
        },
        (err: unknown) => {
          if (superseded(r)) return;
          fetching = false;
          if (isAuthRefusal(err)) return unauthenticated();
          p.wsUnsuccessfulReconnects++;
          o.onStatus(); // no socket, not connecting: offline
          reconnectFresh(reconnectDelay(p.wsUnsuccessfulReconnects, RECONNECT_BASE_MS, RECONNECT_CAP_MS, o.random));
        },
      );
    }, delayMs);
  };
  /** The bearer (or a fresh ticket) was refused: it may have expired, so fetch once more, then give up. */
  const unauthenticated = () => {
    if (tokenRetried) return o.onRefused(CloseCode.UNAUTHENTICATED, 'unauthenticated');
    tokenRetried = true;
    reconnectFresh(0);
  };
  p.on('status', (s: { status: string }) => {
    if (s.status === 'connecting') paramsUsed = true;
    o.onStatus();
  });
  p.on('sync', (s: boolean) => {
    if (!s) return;
    tokenRetried = false;
    o.onSynced();
  });
  p.on('connection-close', (e: CloseEvent | null) => {
    // y-websocket waits min(100 · 2^n, maxBackoffTime) before reconnecting, n counting failed
    // connections; it emits this event just before it counts this one and computes that wait.
    // A jittered delay no larger than 100 · 2^n set as maxBackoffTime is therefore the wait
    // itself: full jitter (backoff.ts) without forking y-websocket's reconnect loop. Local
    // closes (e === null: the no-message watchdog) come through here too.
    p.maxBackoffTime = reconnectDelay(p.wsUnsuccessfulReconnects + 1, RECONNECT_BASE_MS, RECONNECT_CAP_MS, o.random);
    // disconnect() (a stop, the tab losing leadership) closes with shouldConnect already false.
    if (!p.shouldConnect) return;
    const hint = e ? retryAfterMs(e.code, String(e.reason ?? '')) : null;
    if (hint !== null) {
      // Over the user's connection cap (4530): a wait within y-websocket's window could be
      // shorter than the relay asked for, so wait for the hint.
      reconnectFresh(retryAfterDelay(hint, o.random));
      return;
    }
    if (!e || !isPermanentClose(e.code)) return reconnectFresh(p.maxBackoffTime);
    if (e.code === CloseCode.GENERATION_SEALED) {
      // The reason is `generation_rolled <liveDoc>`.
      o.onSealed(/generation_rolled (\S+)/.exec(String(e.reason ?? ''))?.[1] ?? null);
      return;
    }
    if (e.code === CloseCode.UNAUTHENTICATED) {
      // A ticket fetched just now and refused: issued by a relay process since restarted (the
      // fetch itself said the bearer is fine), so fetch another by the backoff schedule. A
      // refused token may have expired.
      if ('ticket' in p.params) return reconnectFresh(p.maxBackoffTime);
      return unauthenticated();
    }
    o.onRefused(e.code, String(e.reason ?? ''));
  });
  if (o.params) connectNow();
  else reconnectFresh(0);
  return p;
}

/**
 * Asks the relay again for everything `doc` misses: sync step 1 on the open socket (as
 * y-websocket's resyncInterval does), so no reconnect and no offline blip.
 */
export function sendSyncStep1(p: WebsocketProvider, doc: Y.Doc): void {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, 0); // y-websocket messageSync
  syncProtocol.writeSyncStep1(enc, doc);
  p.ws?.send(encoding.toUint8Array(enc));
}

/** Resolves on the provider's next completed sync. */
export function nextSync(p: WebsocketProvider): Promise<void> {
  return new Promise<void>((resolve) => {
    const on = (s: boolean) => {
      if (!s) return;
      p.off('sync', on);
      resolve();
    };
    p.on('sync', on);
  });
}
