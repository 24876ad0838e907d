/**
 * Error codes and WebSocket close codes, in one place, shared by relay and client.
 *
 * Close codes follow the y-websocket convention: 4400–4499 are permanent (the client
 * must not reconnect with the same input), 4500–4599 are transient (reconnect later).
 */

/** Normalized error codes used in HTTP error bodies, canon `error` fields and logs. */
export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  THREAD_ARCHIVED: 'THREAD_ARCHIVED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL: 'INTERNAL',
  /** Mirroring to AT was asked for but this relay has no write bridge. */
  MIRROR_UNAVAILABLE: 'MIRROR_UNAVAILABLE',
  /** Only messages whose AT mirror failed can be retried. */
  NOT_FAILED: 'NOT_FAILED',
  /** A federation source with that name exists already. */
  CONFLICT: 'CONFLICT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes sent by the relay on `/v1/sync/:threadId`. */
export const CloseCode = {
  /** Frame could not be decoded as a y-websocket message. */
  MALFORMED: 4400,
  /** Missing, invalid or expired token. */
  UNAUTHENTICATED: 4401,
  /** Update violates the document policy (see DESIGN.md policy table). */
  POLICY_VIOLATION: 4402,
  /** Authenticated user is not a participant of the thread. */
  NOT_A_MEMBER: 4403,
  /** No thread with that id. */
  UNKNOWN_THREAD: 4404,
  /**
   * The document is a sealed generation of its thread (it rolled): connect to the thread's
   * `liveDoc` instead (the reason names it). Pending local messages are re-appended there.
   */
  GENERATION_SEALED: 4410,
  /** Frame or update larger than the configured maximum; resending it cannot help. */
  TOO_LARGE: 4413,
  /**
   * Too many connections for this user, as a permanent refusal. No longer sent (see
   * CONNECTION_LIMIT): stock y-websocket gives up on 44xx for good, and a user over the cap
   * is only over it until another of their sockets closes.
   */
  TOO_MANY_CONNECTIONS: 4429,
  /**
   * Too many connections for this user right now (sync or events socket): reconnect later,
   * not before the `retry_after_ms=<n>` the reason names (`retryAfterMs`). Transient (45xx)
   * so that stock y-websocket clients keep retrying too.
   */
  CONNECTION_LIMIT: 4530,
  /** Relay is shutting down; reconnect. */
  GOING_AWAY: 4500,
  /** Storage failed while committing; reconnect and resend. */
  STORAGE_FAILURE: 4501,
  /**
   * PostgreSQL or Redis (storage, fan-out) is unreachable: the relay takes no writes until it
   * is back, and the update that got this was not stored. Reconnect later and resend.
   */
  BACKEND_UNAVAILABLE: 4503,
  /**
   * Message rate limit exceeded; reconnect after a pause. When the reason names
   * `retry_after_ms=<n>` (an offline backlog over its user's budget: part of it was taken),
   * reconnect no sooner; the next sync step 2 carries the rest.
   */
  RATE_LIMITED: 4529,
  /** Peer did not answer pings, or could not keep up with outgoing data. */
  UNRESPONSIVE: 4508,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The close reason of a CONNECTION_LIMIT refusal, naming the least wait before reconnecting. */
export function connectionLimitReason(what: string, retryAfterMs: number): string {
  return `too many ${what} for this user; retry_after_ms=${retryAfterMs}`;
}

/** The reason of a RATE_LIMITED close that names the least wait before reconnecting. */
export function rateLimitReason(what: string, retryAfterMs: number): string {
  return `${what}; retry_after_ms=${retryAfterMs}`;
}

/** The least wait a close asks for before reconnecting (`retry_after_ms=<n>` in its reason), or null. */
export function retryAfterMs(code: number, reason: string): number | null {
  if (code !== CloseCode.CONNECTION_LIMIT && code !== CloseCode.RATE_LIMITED) return null;
  const m = /retry_after_ms=(\d{1,9})/.exec(reason);
  return m ? Number(m[1]) : null;
}

/** True when a close code means reconnecting with the same state cannot succeed. */
export function isPermanentClose(code: number): boolean {
  return code >= 4400 && code < 4500;
}

/** The JSON error body of every failed HTTP request. */
export interface ErrorBody {
  /** `maxBytes`: with PAYLOAD_TOO_LARGE, the body limit of that route. */
  error: { code: ErrorCode; message: string; maxBytes?: number };
}

/** Normalized codes in `canon[id].error` when mirroring a message to AT failed permanently. */
export const BridgeErrorCode = {
  /** The record did not validate against the Skein lexicon (checked before sending). */
  INVALID_RECORD: 'INVALID_RECORD',
  /** The message id cannot be an AT record key (`.` or `..`). */
  INVALID_RECORD_KEY: 'INVALID_RECORD_KEY',
  /** The PDS refused the write as invalid (HTTP 400). */
  AT_BAD_REQUEST: 'AT_BAD_REQUEST',
  /** The PDS refused a single write as too large (HTTP 413). */
  AT_PAYLOAD_TOO_LARGE: 'AT_PAYLOAD_TOO_LARGE',
  /**
   * Authentication failed even after refreshing and logging in again. No longer written: such
   * writes now wait in the outbox until the relay can log in (bridge degraded,
   * `not_logged_in`); messages failed this way by an older relay may still carry it.
   */
  AT_AUTH_FAILED: 'AT_AUTH_FAILED',
  /** Any other 4xx refusal. */
  AT_REJECTED: 'AT_REJECTED',
} as const;
export type BridgeErrorCode = (typeof BridgeErrorCode)[keyof typeof BridgeErrorCode];
