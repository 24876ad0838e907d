/**
 * Opens a view's relay socket while its local copy still loads from IndexedDB, so that the
 * handshake (TCP, upgrade, token check, the relay loading the room) overlaps the load. The
 * y-websocket provider adopts the socket once the document is ready: the sync protocol
 * starts only then, so step 1 carries the loaded state vector and nothing local is sent
 * twice. Messages the relay sent before the adoption are replayed in order after `open`.
 */

const OPEN = 1;

/** A socket being opened ahead of its provider. */
export interface Preconnection {
  /**
   * A constructor for y-websocket's `WebSocketPolyfill`: its first call with the same URL
   * returns the early socket, any other call (a reconnect, another URL) opens a new one.
   */
  readonly socketClass: typeof WebSocket;
  /** Closes the early socket unless it was adopted. */
  discard(): void;
}

/** Starts connecting to `url` now with `WS` (the global WebSocket or a polyfill). */
export function preconnect(WS: typeof WebSocket, url: string): Preconnection {
  let early: WebSocket | null = new WS(url);
  early.binaryType = 'arraybuffer';
  const received: MessageEvent[] = [];
  early.onmessage = (e: MessageEvent) => received.push(e);
  // Until adopted, failures are the provider's to find out (it opens a new socket then);
  // Node's ws throws on an error nobody listens to.
  early.onerror = () => {};
  const adopt = (u: string, protocols?: string | string[]): WebSocket => {
    const ws = early;
    early = null;
    if (!ws || u !== url || ws.readyState > OPEN) {
      ws?.close();
      return new WS(u, protocols);
    }
    ws.onmessage = null;
    // y-websocket sets its handlers right after construction; an already open socket never
    // fires `open` again, so call its handler, then hand over what arrived meanwhile.
    queueMicrotask(() => {
      if (ws.readyState !== OPEN) return;
      ws.onopen?.call(ws, new Event('open'));
      for (const e of received.splice(0)) ws.onmessage?.call(ws, e);
    });
    return ws;
  };
  // Called with `new` by y-websocket: a constructor returning an object yields that object.
  const socketClass = function (this: unknown, u: string, protocols?: string | string[]) {
    return adopt(u, protocols);
  } as unknown as typeof WebSocket;
  return {
    socketClass,
    discard() {
      early?.close();
      early = null;
    },
  };
}

/** The URL y-websocket's provider opens for `docName` (same trimming and query encoding). */
export function providerUrl(serverUrl: string, docName: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${serverUrl.replace(/\/+$/, '')}/${docName}${query ? `?${query}` : ''}`;
}
