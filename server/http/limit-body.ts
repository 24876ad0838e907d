/**
 * Middleware: request bodies are limited before they are read (issue 28). A body announced
 * larger than the limit (Content-Length) is refused at once; an unannounced (chunked) one is
 * counted as it streams in and refused the moment it passes the limit, so no body larger
 * than the limit is ever buffered. The refusal is 413 PAYLOAD_TOO_LARGE with the limit
 * (`maxBytes`).
 *
 * The first limit that runs for a request is the one that applies: the app registers a
 * route's own (larger) limit before the default one for everything else.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '../ops/logger.ts';
import { ErrorCode } from '../../shared/errors.ts';
import type { AppEnv } from '../context.ts';
import { HttpError } from './http-error.ts';

/** How long a refused upload's connection stays open (and unread) after the 413, ms. */
const LINGER_MS = 1000;

export function limitBody(maxBytes: number, log: Logger): MiddlewareHandler<AppEnv> {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      closeAfterResponse(c, (bytesRead) =>
        log.info({ event: 'http_body_refused', method: c.req.method, path: c.req.path, maxBytes, bytesRead }, 'request body too large'),
      );
      throw new HttpError(413, ErrorCode.PAYLOAD_TOO_LARGE, `request body larger than ${maxBytes} bytes`, { maxBytes });
    },
  });
  return async (c, next) => {
    if (c.get('bodyLimited')) return next();
    c.set('bodyLimited', true);
    return limit(c, next);
  };
}

/**
 * The rest of a refused upload is never read. The response says `Connection: close` (the
 * connection cannot carry another request: its unread body is in the way, and a client that
 * reused it would fail). Node's server then calls `destroySoon()` on the socket the moment
 * the response is written; but destroying a socket the client still writes to answers its
 * next write with a reset, which often destroys the 413 before the client has read it. So
 * this socket's destroySoon half-closes instead (the client reads the response and the end
 * of the stream), stops reading (the client's writes fill the window and block: what is
 * left of the body stays in the client), and destroys the socket after LINGER_MS unless the
 * client closed it first. `closed` gets the bytes read from the connection in all.
 */
function closeAfterResponse(c: Context, closed: (bytesRead: number) => void): void {
  c.header('Connection', 'close');
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket as (Socket & { destroySoon?: () => void }) | undefined;
  // Not on Node's HTTP server (another adapter): it closes the connection its own way.
  if (!socket) return;
  let closing = false;
  socket.destroySoon = () => {
    if (closing) return;
    closing = true;
    socket.end();
    socket.pause();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      closed(socket.bytesRead);
    });
  };
}
