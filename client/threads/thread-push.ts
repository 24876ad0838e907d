/**
 * The relay's push channel for this user's thread list (`/v1/events`): on each event the
 * client refreshes its list at once, so a thread someone else creates with you appears
 * without waiting for a poll. Reconnects with backoff; a refusal the relay marks permanent
 * (44xx) stops it, except 4401: a refused ticket (issued by a relay process since restarted)
 * is fetched again by the backoff schedule, a refused token once.
 * Each connect takes fresh credentials (a single-use ticket: RelayApi.socketParams), so the
 * bearer token stays out of the URL.
 *
 * Each tab keeps its own socket: it carries only small events and lets the list of every
 * tab update even while another tab holds the thread connections.
 */
import { CloseCode, isPermanentClose, retryAfterMs } from '../../shared/errors.ts';
import type { ThreadListEvent } from '../../shared/api-types.ts';

/** A pushed event, or undefined when the frame is not one (it still means: refresh). */
function parseEvent(data: unknown): ThreadListEvent | undefined {
  try {
    const e = JSON.parse(String(data)) as ThreadListEvent;
    return e && e.type === 'thread' && typeof e.threadId === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}
import { reconnectDelay, retryAfterDelay } from '../link/backoff.ts';
import { isAuthRefusal } from '../link/relay-api.ts';


export type PushState = 'online' | 'offline';

export interface ThreadPushOptions {
  /** `ws(s)://host/v1/events` */
  url: string;
  /** Query parameters for one connect: `{ ticket }` (single use) or `{ token }`. */
  socketParams: () => Promise<Record<string, string>>;
  WebSocketImpl: typeof WebSocket;
  /** A thread-list change: refresh. `event`: what the relay pushed (absent on (re)open: refresh all). */
  onEvent: (event?: ThreadListEvent) => void;
  /** Push became available or went away (the app polls only while it is away). */
  onState: (s: PushState) => void;
  /** Math.random but for tests (the reconnect jitter). */
  random?: () => number;
}

const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class ThreadPush {
  private ws: WebSocket | null = null;
  private closed = false;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private tokenRetried = false;
  state: PushState = 'offline';

  constructor(private readonly o: ThreadPushOptions) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
  }

  private setState(s: PushState): void {
    if (s === this.state) return;
    this.state = s;
    this.o.onState(s);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let params: Record<string, string>;
    try {
      params = await this.o.socketParams();
    } catch (err) {
      // The relay refused the bearer itself: fetched again once (it may have expired), as a 4401.
      if (isAuthRefusal(err)) {
        if (this.tokenRetried) return;
        this.tokenRetried = true;
      }
      return this.retry();
    }
    if (this.closed) return;
    const ws = new this.o.WebSocketImpl(`${this.o.url}?${new URLSearchParams(params)}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      this.attempts = 0;
      opened = true;
      this.setState('online');
      // Anything that changed while the channel was down: one refresh catches up.
      this.o.onEvent();
    };
    ws.onmessage = (m: MessageEvent) => this.o.onEvent(parseEvent(m.data));
    // A failed attempt ends in onclose; without a handler, Node's `ws` would throw the error.
    ws.onerror = () => {};
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('offline');
      if (this.closed) return;
      // A socket that worked and then closed for another reason earns another retry on a
      // later 4401; a bad token, refused at every open, does not loop.
      if (opened && e.code !== CloseCode.UNAUTHENTICATED) this.tokenRetried = false;
      // A ticket the relay just issued and now does not know: the process restarted between
      // the two (tickets live in its memory). The bearer is fine (the fetch said so): retry
      // with a fresh one by the backoff schedule.
      if (e.code === CloseCode.UNAUTHENTICATED && 'ticket' in params) return this.retry();
      if (e.code === CloseCode.UNAUTHENTICATED && !this.tokenRetried) {
        this.tokenRetried = true;
        return void this.connect();
      }
      if (isPermanentClose(e.code)) return;
      // Over the user's cap of event sockets (4530): not before the relay's hint.
      const hint = retryAfterMs(e.code, String(e.reason ?? ''));
      this.retry(hint === null ? null : retryAfterDelay(hint, this.o.random));
    };
  }

  /** Connects again after `after` ms, or by the backoff schedule. */
  private retry(after: number | null = null): void {
    if (this.closed) return;
    // Full jitter (backoff.ts): every tab of every user comes back from a relay restart at
    // once; spreading each attempt over its whole window keeps them from arriving together.
    const delay = after ?? reconnectDelay(this.attempts++, BASE_BACKOFF_MS, MAX_BACKOFF_MS, this.o.random);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
