/** HTTP calls to the relay's `/v1` API with the user's bearer token. */

import type { CanonicalMessage, ThreadSummary } from '../../shared/api-types.ts';
import { parseDocName } from '../../shared/generation.ts';

export type { ThreadSummary };

/** Where a thread's live document is (docs/design/windowed-threads.md). */
export interface GenerationInfo {
  generation: number;
  /** Every message with `seq <= baseSeq` is sealed history, outside the live document. */
  baseSeq: number;
  /** Name of the live document (y-websocket room, y-indexeddb database suffix). */
  liveDoc: string;
}

/** A thread's generation as the relay reports it; generation 0 (the bare id) for a relay without generations. */
export function generationInfoOf(t: { id: string; generation?: number; baseSeq?: number; liveDoc?: string }): GenerationInfo {
  const liveDoc = typeof t.liveDoc === 'string' && t.liveDoc ? t.liveDoc : t.id;
  const generation = typeof t.generation === 'number' ? t.generation : parseDocName(liveDoc).generation;
  return { generation, baseSeq: typeof t.baseSeq === 'number' ? t.baseSeq : 0, liveDoc };
}

/** A page of `GET /v1/threads/:id/messages`. */
export interface MessagesPage {
  /** Ascending by seq. */
  messages: CanonicalMessage[];
  /** Receipts of the page's sealed messages (folded by the relay when their generation rolled). */
  receipts?: Array<{ messageId: string; userId: string; readAt: number }>;
  lastSeq: number;
  baseSeq?: number;
  generation?: number;
}

/** What `createThread` takes. */
export interface NewThreadInput {
  title?: string;
  /** Local user ids besides the creator. */
  participants: string[];
  /** Mirror to AT (public records); only on a relay with an AT write bridge. */
  mirror?: boolean;
  /**
   * The at:// URI of another relay's thread (`meta.atUri` there) to join: the new local thread
   * holds the same conversation, carried between the relays through AT. Implies `mirror`.
   */
  follow?: string;
}

export interface Capabilities {
  atproto: { features: { write_bridge: boolean; repo_ingest: boolean }; degraded: boolean };
  limits: { maxFrameBytes: number; maxTextLength: number; maxStreamBytes?: number; maxOpenStreams?: number; streamIdleMs?: number };
}

/** A failed relay request: HTTP status (0 when the relay was unreachable) and normalized code. */
export class SkeinRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SkeinRequestError';
  }
}

/** A refusal of the bearer itself (401/403), as opposed to an outage: no use retrying it forever. */
export function isAuthRefusal(err: unknown): boolean {
  return err instanceof SkeinRequestError && (err.status === 401 || err.status === 403);
}

/**
 * How long a request to the relay may take, body included, before it fails with `TIMEOUT`:
 * a relay that never answers must not hold a history page (and the view's history queue
 * behind it) for good.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export class RelayApi {
  constructor(
    readonly baseUrl: string,
    private readonly getToken: () => string | Promise<string>,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${await this.getToken()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const failed = (err: unknown) =>
      (err as Error | null)?.name === 'TimeoutError'
        ? new SkeinRequestError(0, 'TIMEOUT', `relay did not answer within ${this.timeoutMs} ms (${method} ${path})`)
        : new SkeinRequestError(0, 'UNREACHABLE', `relay unreachable (${method} ${path})`);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw failed(err);
    }
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const code = json?.error?.code ?? (res.status === 404 ? 'NOT_FOUND' : 'HTTP_' + res.status);
      throw new SkeinRequestError(res.status, code, json?.error?.message ?? `${method} ${path} failed with ${res.status}`);
    }
    return json as T;
  }

  /**
   * The query parameters a WebSocket to the relay authenticates with: a fresh single-use
   * ticket, so the bearer token never appears in a URL (browsers log failed socket URLs).
   * A relay without tickets (404: older, or tickets turned off) gets the token, as stock
   * y-websocket clients send it; that answer is remembered.
   */
  async socketParams(): Promise<Record<string, string>> {
    if (!this.noTickets) {
      try {
        const { ticket } = await this.request<{ ticket: string }>('POST', '/v1/tickets', {});
        return { ticket };
      } catch (err) {
        if (!(err instanceof SkeinRequestError && err.status === 404)) throw err;
        this.noTickets = true;
      }
    }
    return { token: await this.getToken() };
  }
  private noTickets = false;

  listThreads(): Promise<{ threads: ThreadSummary[] }> {
    return this.request('GET', '/v1/threads');
  }
  getThread(id: string): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    return this.request('GET', `/v1/threads/${encodeURIComponent(id)}`);
  }
  createThread(input: NewThreadInput): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    return this.request('POST', '/v1/threads', input);
  }
  archiveThread(id: string): Promise<unknown> {
    return this.request('POST', `/v1/threads/${encodeURIComponent(id)}/archive`, {});
  }
  capabilities(): Promise<Capabilities> {
    return this.request('GET', '/v1/capabilities', undefined, false);
  }
  /** Adds (or removes) a remote member: a DID whose AT records the thread ingests. */
  setRemote(threadId: string, did: string, present: boolean): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    const path = `/v1/threads/${encodeURIComponent(threadId)}/remotes`;
    return present ? this.request('POST', path, { did }) : this.request('DELETE', `${path}/${encodeURIComponent(did)}`);
  }
  /** Adds a local user to a thread (owner or moderator). */
  addMember(threadId: string, userId: string): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    return this.request('POST', `/v1/threads/${encodeURIComponent(threadId)}/members`, { userId });
  }
  /** Removes a member (owner or moderator; anyone may remove themselves). */
  removeMember(threadId: string, userId: string): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    return this.request('DELETE', `/v1/threads/${encodeURIComponent(threadId)}/members/${encodeURIComponent(userId)}`);
  }
  /** Sets the thread's moderators (owner only). */
  setModerators(threadId: string, moderators: string[]): Promise<Omit<ThreadSummary, 'lastMessage'>> {
    return this.request('PUT', `/v1/threads/${encodeURIComponent(threadId)}/moderators`, { moderators });
  }
  /** Canonical messages with `seq > afterSeq`, ascending, at most `limit`. */
  messagesAfter(threadId: string, afterSeq: number, limit: number): Promise<MessagesPage> {
    return this.request('GET', `/v1/threads/${encodeURIComponent(threadId)}/messages?afterSeq=${afterSeq}&limit=${limit}`);
  }
  /** The newest `limit` canonical messages with `seq < beforeSeq`, ascending. */
  messagesBefore(threadId: string, beforeSeq: number, limit: number): Promise<MessagesPage> {
    return this.request('GET', `/v1/threads/${encodeURIComponent(threadId)}/messages?beforeSeq=${beforeSeq}&limit=${limit}`);
  }
  /** The canonical messages with these ids (unknown ones left out), ascending by seq. */
  messagesById(threadId: string, ids: readonly string[]): Promise<MessagesPage> {
    const q = ids.map((id) => `id=${encodeURIComponent(id)}`).join('&');
    return this.request('GET', `/v1/threads/${encodeURIComponent(threadId)}/messages?${q}`);
  }
  /** How many messages by others the caller has with `afterSeq < seq < beforeSeq`. */
  async unreadBetween(threadId: string, afterSeq: number, beforeSeq: number): Promise<number> {
    const r = await this.request<{ count: number }>('GET', `/v1/threads/${encodeURIComponent(threadId)}/unread?afterSeq=${afterSeq}&beforeSeq=${beforeSeq}`);
    return r.count;
  }
  /** A sealed generation's state vector as the relay held it at the roll (404 when it kept none). */
  async sealedState(threadId: string, generation: number): Promise<Uint8Array> {
    const r = await this.request<{ stateVector: string }>('GET', `/v1/threads/${encodeURIComponent(threadId)}/generations/${generation}/state`);
    return Uint8Array.from(atob(r.stateVector), (ch) => ch.charCodeAt(0));
  }
  retryMirror(threadId: string, messageId: string): Promise<unknown> {
    return this.request('POST', `/v1/threads/${encodeURIComponent(threadId)}/messages/${encodeURIComponent(messageId)}/retry`, {});
  }
}
