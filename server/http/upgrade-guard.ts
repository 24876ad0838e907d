/**
 * WebSocket upgrades whose client left while they were being authorized.
 *
 * `@hono/node-ws` (1.3.1) registers a waiter for the upgrade once the route's events are
 * returned, and `ws` never completes an upgrade on a socket that is no longer readable and
 * writable, so that waiter (the request, its Hono context and closures) was kept for good.
 * A client that drops its connection during a slow authorization (a JWKS fetch, a store
 * under load) left one behind each time: memory anyone could make the relay hold. Refusing
 * the upgrade instead registers nothing.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { ErrorCode } from '../../shared/errors.ts';
import { HttpError } from './http-error.ts';
import type { RelayMetrics } from '../ops/metrics.ts';

/** Throws (answered as 400, to nobody) when the client's socket is gone; call last before returning the events. */
export function ensureClientStillThere(c: Context, metrics: RelayMetrics): void {
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
  if (!socket || (socket.readable && socket.writable)) return;
  metrics.wsUpgradesAbandoned.inc();
  throw new HttpError(400, ErrorCode.BAD_REQUEST, 'the client closed its connection during the upgrade');
}
