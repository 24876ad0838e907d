/** HTTP calls to the relay's `/v1` API with the user's bearer token. */

import type { ThreadSummary } from '../shared/api-types.ts';

export type { ThreadSummary };

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

export class RelayApi {
  constructor(
    readonly baseUrl: string,
    private readonly getToken: () => string | Promise<string>,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${await this.getToken()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new SkeinRequestError(0, 'UNREACHABLE', `relay unreachable (${method} ${path})`);
    }
    const text = await res.text();
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
  retryMirror(threadId: string, messageId: string): Promise<unknown> {
    return this.request('POST', `/v1/threads/${encodeURIComponent(threadId)}/messages/${encodeURIComponent(messageId)}/retry`, {});
  }
}
