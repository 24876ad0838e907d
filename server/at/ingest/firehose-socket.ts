/**
 * One connection to a `com.atproto.sync.subscribeRepos` endpoint. Frames are decoded with
 * @atproto/xrpc-server's `Frame` and handed to `onFrame` one at a time, in order; the socket
 * is paused while the handler falls behind, so a slow (or rate-limited) consumer applies
 * backpressure to the PDS instead of buffering without bound.
 *
 * We do not use @atproto/sync's Firehose: it drops `#info` frames (OutdatedCursor), reconnects
 * forever on FutureCursor and advances its cursor when the handler threw.
 */
import { Frame } from '@atproto/xrpc-server';
import WebSocket from 'ws';

export type FirehoseFrame =
  | { kind: 'event'; type: string; body: Record<string, unknown> }
  | { kind: 'error'; error: string; message?: string };

export interface FirehoseOutcome {
  /** The error frame that ended the stream (FutureCursor, ConsumerTooSlow…), if any. */
  error?: string;
  /** Why the socket closed otherwise (close code, network error, handler failure). */
  reason: string;
  /** Whether the socket opened at all. */
  opened: boolean;
}

const HIGH_WATER = 64;
const LOW_WATER = 8;
const CONNECT_TIMEOUT_MS = 10_000;

/** The subscribeRepos URL of a service endpoint (http(s) → ws(s)). */
export function subscribeReposUrl(endpoint: string, cursor: string | null): string {
  const u = new URL(endpoint);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/xrpc/com.atproto.sync.subscribeRepos`;
  u.search = '';
  if (cursor !== null) u.searchParams.set('cursor', cursor);
  return u.href;
}

/**
 * Streams frames until the socket closes, `signal` aborts, or `onFrame` throws (then the
 * socket is closed and the rest of the queue dropped: the cursor, stored with the data, says
 * where to resume). Resolves with how it ended; never rejects.
 */
export function runFirehose(opts: {
  url: string;
  signal: AbortSignal;
  onOpen: () => void | Promise<void>;
  onFrame: (f: FirehoseFrame) => Promise<void>;
}): Promise<FirehoseOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(opts.url, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: 16 * 1024 * 1024 });
    const queue: FirehoseFrame[] = [];
    let opened = false;
    let draining = false;
    let done = false;
    let errorFrame: string | undefined;
    let reason = 'closed';

    const finish = () => {
      if (done) return;
      done = true;
      opts.signal.removeEventListener('abort', onAbort);
      resolve({ opened, reason, ...(errorFrame ? { error: errorFrame } : {}) });
    };
    const stop = (why: string) => {
      reason = why;
      queue.length = 0;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.terminate();
      if (!draining) finish();
    };
    const onAbort = () => stop('stopped');
    opts.signal.addEventListener('abort', onAbort);
    if (opts.signal.aborted) return stop('stopped');

    const drain = async () => {
      if (draining) return;
      draining = true;
      try {
        while (queue.length && !done) {
          const f = queue.shift()!;
          try {
            await opts.onFrame(f);
          } catch (err) {
            reason = `handler: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200);
            queue.length = 0;
            ws.terminate();
            break;
          }
          if (queue.length <= LOW_WATER && ws.isPaused) ws.resume();
        }
      } finally {
        draining = false;
        if (ws.readyState === WebSocket.CLOSED) finish();
      }
    };

    ws.on('open', () => {
      opened = true;
      void Promise.resolve(opts.onOpen()).catch(() => {});
    });
    ws.on('message', (data: Buffer) => {
      let frame: FirehoseFrame;
      try {
        const f = Frame.fromBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        if (f.isError()) {
          errorFrame = f.code;
          frame = { kind: 'error', error: f.code, ...(f.message ? { message: f.message } : {}) };
        } else {
          const t = (f.header as { t?: string }).t ?? '';
          const type = t.startsWith('#') ? `com.atproto.sync.subscribeRepos${t}` : t;
          frame = { kind: 'event', type, body: { ...(f.body as Record<string, unknown>), $type: type } };
        }
      } catch {
        reason = 'undecodable frame';
        ws.terminate();
        return;
      }
      queue.push(frame);
      if (queue.length >= HIGH_WATER) ws.pause();
      void drain();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      reason = err.code ?? err.message.slice(0, 120);
    });
    ws.on('unexpected-response', (_req, res) => {
      reason = `http ${res.statusCode}`;
      ws.terminate();
    });
    ws.on('close', (code) => {
      if (reason === 'closed') reason = `closed ${code}`;
      if (!draining) finish();
    });
  });
}
