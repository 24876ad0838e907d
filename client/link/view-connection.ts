/**
 * A view's relay connection (held by the leader tab): the y-websocket link to the live
 * generation's document. Connecting waits for the socket credentials (a single-use ticket), opens the socket while the local
 * copy still loads (preconnect.ts) and starts the sync once it is loaded. A later connect or
 * a stop supersedes a connect still waiting, so a view never ends up linked to a generation
 * it has left.
 *
 * The socket can also be opened before the tab knows it leads (`prepare`): granting the Web
 * Lock that elects the leader tab takes 50–250 ms on a busy machine, and the handshake and
 * the relay's room load overlap that wait. A tab that turns out not to lead closes its early
 * socket after EARLY_SOCKET_MS.
 */
import type * as awarenessProtocol from 'y-protocols/awareness';
import type { WebsocketProvider } from 'y-websocket';
import { parseDocName } from '../../shared/generation.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import { type Preconnection, preconnect, providerUrl } from './preconnect.ts';
import { openRelayLink } from './relay-link.ts';

export interface ConnectionHost {
  wsUrl: string;
  /** Query parameters for one connect: `{ ticket }` (single use) or `{ token }` (RelayApi.socketParams). */
  socketParams(): Promise<Record<string, string>>;
  WebSocketPolyfill?: typeof WebSocket;
  awareness: awarenessProtocol.Awareness;
  /** Resolves once the first generation's local copy is loaded. */
  ready: Promise<void>;
  isLoaded(): boolean;
  isClosed(): boolean;
  generation(): LiveGeneration;
  /** No WebSocket implementation: the view is offline. */
  offline(): void;
  onStatus(): void;
  onSynced(): void;
  /** The relay sealed the generation; the hint names the live one. */
  onSealed(hint: { liveDoc?: string; generation: number }): void;
  onRefused(code: number, reason: string): void;
}

/** How long a socket opened before leadership waits to be adopted by this tab's link. */
export const EARLY_SOCKET_MS = 3000;

/** A socket opened by `prepare`, for the URL it was opened with. */
interface EarlySocket {
  url: string;
  liveDoc: string;
  /** Its ticket is spent by this socket: the link adopting it starts from the same URL. */
  params: Record<string, string>;
  conn: Preconnection;
  timer: ReturnType<typeof setTimeout>;
}

export class ViewConnection {
  /** The link, or null while not connected (or not the leader tab). */
  provider: WebsocketProvider | null = null;
  private attempt = 0;
  private early: EarlySocket | null = null;

  constructor(private readonly host: ConnectionHost) {}

  /**
   * Opens the live document's socket now, before leadership is known (see above); `start`
   * adopts it when it is still for the same document.
   */
  async prepare(): Promise<void> {
    const h = this.host;
    const attempt = this.attempt;
    let params: Record<string, string>;
    try {
      params = await h.socketParams();
    } catch {
      return; // `start` finds out and reports it
    }
    const WS = h.WebSocketPolyfill ?? (typeof WebSocket === 'undefined' ? undefined : WebSocket);
    if (!WS || h.isClosed() || this.provider || this.early || attempt !== this.attempt) return;
    const liveDoc = h.generation().info.liveDoc;
    const url = providerUrl(h.wsUrl, liveDoc, params);
    const early: EarlySocket = { url, liveDoc, params, conn: preconnect(WS, url), timer: setTimeout(() => this.dropEarly(early), EARLY_SOCKET_MS) };
    this.early = early;
  }

  /** The early socket for `url`, taken over by the caller; any other is closed. */
  private takeEarly(url: string): Preconnection | null {
    const early = this.early;
    if (!early) return null;
    clearTimeout(early.timer);
    this.early = null;
    if (early.url === url) return early.conn;
    early.conn.discard();
    return null;
  }

  private dropEarly(early?: EarlySocket): void {
    if (!this.early || (early && early !== this.early)) return;
    clearTimeout(this.early.timer);
    this.early.conn.discard();
    this.early = null;
  }

  async start(): Promise<void> {
    const h = this.host;
    if (h.isClosed()) return;
    const attempt = ++this.attempt;
    let params: Record<string, string> | null;
    // An early socket for this document already holds a (spent) ticket: use its URL so the
    // link adopts it; fetching another ticket would only open a second socket.
    const early0 = this.early?.liveDoc === h.generation().info.liveDoc ? this.early : null;
    try {
      params = early0 ? early0.params : await h.socketParams();
    } catch {
      // The relay is down (or refuses the bearer): the link still opens and fetches them
      // itself, by its backoff schedule, so the view comes online when the relay is back.
      params = null;
    }
    if (h.isClosed() || attempt !== this.attempt) return;
    const WS = h.WebSocketPolyfill ?? (typeof WebSocket === 'undefined' ? undefined : WebSocket);
    if (!WS) {
      h.onRefused(0, 'no WebSocket implementation (pass WebSocketPolyfill)');
      return h.offline();
    }
    if (this.provider) return;
    // The handshake overlaps the local load; the sync itself starts once the copy is loaded.
    const url = params && providerUrl(h.wsUrl, h.generation().info.liveDoc, params);
    const early = url === null ? (this.dropEarly(), null) : (this.takeEarly(url) ?? (h.isLoaded() ? null : preconnect(WS, url)));
    await h.ready;
    if (h.isClosed() || this.provider || attempt !== this.attempt) return early?.discard();
    const gen = h.generation(); // a move meanwhile changes the URL: the early socket is then not adopted
    this.provider = openRelayLink({
      wsUrl: h.wsUrl,
      liveDoc: gen.info.liveDoc,
      doc: gen.doc,
      awareness: h.awareness,
      params,
      socketParams: () => h.socketParams(),
      WebSocketPolyfill: early?.socketClass ?? h.WebSocketPolyfill,
      isClosed: () => h.isClosed(),
      onStatus: () => h.onStatus(),
      onSynced: () => h.onSynced(),
      onSealed: (liveDoc) => h.onSealed(liveDoc ? { liveDoc, generation: parseDocName(liveDoc).generation } : { generation: gen.info.generation + 1 }),
      onRefused: (code, reason) => h.onRefused(code, reason),
    });
    early?.discard();
  }

  /** Drops the link and any connect still waiting; true when there was a link. */
  stop(): boolean {
    this.attempt++;
    this.dropEarly();
    const had = this.provider !== null;
    this.provider?.destroy();
    this.provider = null;
    return had;
  }

  /** True when linked to another document than `liveDoc` (left behind by a move). */
  isStale(liveDoc: string): boolean {
    return this.provider !== null && this.provider.roomname !== liveDoc;
  }
}
