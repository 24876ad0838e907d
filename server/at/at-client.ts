/**
 * The AT side of the write bridge behind a narrow interface: log in (resuming a persisted
 * session), create records in the relay's repo with applyWrites, look records up.
 * Errors come out as AtCallError with the HTTP status and any rate-limit headers.
 */
import { AtpAgent, type AtpSessionData } from '@atproto/api';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Rate-limit state announced by the PDS (`RateLimit-*` headers). */
export interface RateLimitInfo {
  limit: number | null;
  remaining: number;
  /** Absolute time the budget resets, ms since the epoch. */
  resetAt: number;
}

export interface CreatedRecord {
  uri: string;
  cid: string;
}

export interface RecordWrite {
  rkey: string;
  record: Record<string, unknown>;
}

/** A failed call: `status` is the HTTP status, or 0 when no response came (network). */
export class AtCallError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
    readonly rateLimit: RateLimitInfo | null,
  ) {
    super(message);
    this.name = 'AtCallError';
  }
}

/** Any thrown value as an AtCallError (status 0: no response, e.g. a network failure). */
export function asCallError(err: unknown): AtCallError {
  return err instanceof AtCallError ? err : new AtCallError(0, 'Error', String(err), null);
}

/** Failure detail for diagnostics: status and error name, never message text or credentials. */
export const detailOf = (e: AtCallError) => `${e.status || 'no response'} ${e.errorName}: ${e.message.slice(0, 200)}`;

/** What the bridge needs from a PDS. */
export interface AtRepoClient {
  readonly service: string;
  /** The relay's DID once logged in. */
  readonly did: string | null;
  readonly loggedIn: boolean;
  /** Logs in (or resumes the persisted session). Throws AtCallError. */
  login(): Promise<void>;
  /** Creates records in one applyWrites call; results are in input order. */
  createRecords(collection: string, writes: RecordWrite[]): Promise<{ results: CreatedRecord[]; rateLimit: RateLimitInfo | null }>;
  /** The record at `collection/rkey`, or null when there is none. */
  getRecord(collection: string, rkey: string): Promise<CreatedRecord | null>;
  /** Creates or replaces the record at `collection/rkey`. Throws AtCallError. */
  putRecord(collection: string, rkey: string, record: Record<string, unknown>): Promise<CreatedRecord>;
  /** Deletes the record at `collection/rkey` (none there: nothing to do). Throws AtCallError. */
  deleteRecord(collection: string, rkey: string): Promise<void>;
}

export interface AtClientOptions {
  service: string;
  identifier: string;
  password: string;
  /** Where the session (tokens, never the password) is kept between restarts; null = memory only. */
  sessionFile: string | null;
  timeoutMs?: number;
}

function headerOf(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Parses `RateLimit-Remaining` / `RateLimit-Reset` (absolute epoch seconds). */
export function parseRateLimit(headers: Record<string, string | undefined> | undefined): RateLimitInfo | null {
  const remaining = Number(headerOf(headers, 'ratelimit-remaining'));
  const reset = Number(headerOf(headers, 'ratelimit-reset'));
  if (!Number.isFinite(remaining) || !Number.isFinite(reset) || headerOf(headers, 'ratelimit-remaining') === undefined) return null;
  const limitRaw = headerOf(headers, 'ratelimit-limit');
  const limit = limitRaw !== undefined && Number.isFinite(Number(limitRaw)) ? Number(limitRaw) : null;
  return { limit, remaining, resetAt: reset * 1000 };
}

function toCallError(err: unknown): AtCallError {
  if (err instanceof AtCallError) return err;
  const e = err as { status?: unknown; error?: unknown; message?: unknown; headers?: Record<string, string | undefined> };
  // @atproto/xrpc reports "no response" as status 1 (Unknown); fetch failures have no status.
  const status = typeof e?.status === 'number' && e.status >= 100 ? e.status : 0;
  const name = typeof e?.error === 'string' ? e.error : status === 0 ? 'NetworkError' : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new AtCallError(status, name, message, parseRateLimit(e?.headers));
}

interface PersistedSession {
  service: string;
  identifier: string;
  session: AtpSessionData;
}

/** AtRepoClient over @atproto/api's AtpAgent (which refreshes expired access tokens itself). */
export class AgentRepoClient implements AtRepoClient {
  private agent: AtpAgent;
  private ok = false;

  constructor(private readonly opts: AtClientOptions) {
    this.agent = this.newAgent();
  }

  get service(): string {
    return this.opts.service;
  }
  get did(): string | null {
    return this.agent.session?.did ?? null;
  }
  get loggedIn(): boolean {
    return this.ok && !!this.agent.session;
  }

  private newAgent(): AtpAgent {
    return new AtpAgent({
      service: this.opts.service,
      persistSession: (_evt, session) => this.persist(session),
    });
  }

  private persist(session: AtpSessionData | undefined): void {
    const file = this.opts.sessionFile;
    if (!file) return;
    if (!session) {
      rmSync(file, { force: true });
      return;
    }
    const data: PersistedSession = { service: this.opts.service, identifier: this.opts.identifier, session };
    writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
  }

  private loadPersisted(): AtpSessionData | null {
    const file = this.opts.sessionFile;
    if (!file || !existsSync(file)) return null;
    try {
      const p = JSON.parse(readFileSync(file, 'utf8')) as PersistedSession;
      return p.service === this.opts.service && p.identifier === this.opts.identifier ? p.session : null;
    } catch {
      return null;
    }
  }

  async login(): Promise<void> {
    this.ok = false;
    const saved = this.loadPersisted();
    if (saved) {
      try {
        await this.agent.resumeSession(saved);
        this.ok = true;
        return;
      } catch {
        this.agent = this.newAgent(); // stale session: fall back to the password
      }
    }
    try {
      await this.agent.login({ identifier: this.opts.identifier, password: this.opts.password });
      this.ok = true;
    } catch (err) {
      throw toCallError(err);
    }
  }

  private signal() {
    return AbortSignal.timeout(this.opts.timeoutMs ?? 30_000);
  }

  /** Runs a call; on 401 logs in again once (password) and retries, as a refresh already failed. */
  private async authed<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = toCallError(err);
      if (e.status !== 401) throw e;
      this.agent = this.newAgent();
      await this.login();
      try {
        return await fn();
      } catch (err2) {
        const e2 = toCallError(err2);
        if (e2.status === 401) this.ok = false;
        throw e2;
      }
    }
  }

  async createRecords(collection: string, writes: RecordWrite[]) {
    const res = await this.authed(() =>
      this.agent.com.atproto.repo.applyWrites(
        {
          repo: this.did!,
          writes: writes.map((w) => ({
            $type: 'com.atproto.repo.applyWrites#create' as const,
            collection,
            rkey: w.rkey,
            value: w.record,
          })),
        },
        { signal: this.signal() },
      ),
    );
    const results = (res.data.results ?? []).map((r) => {
      const x = r as { uri?: string; cid?: string };
      return { uri: x.uri ?? '', cid: x.cid ?? '' };
    });
    if (results.length !== writes.length || results.some((r) => !r.uri || !r.cid)) {
      throw new AtCallError(502, 'InvalidResponse', 'applyWrites answered without a result per write', parseRateLimit(res.headers));
    }
    return { results, rateLimit: parseRateLimit(res.headers) };
  }

  async putRecord(collection: string, rkey: string, record: Record<string, unknown>): Promise<CreatedRecord> {
    const res = await this.authed(() =>
      this.agent.com.atproto.repo.putRecord({ repo: this.did!, collection, rkey, record }, { signal: this.signal() }),
    );
    return { uri: res.data.uri, cid: res.data.cid };
  }

  async deleteRecord(collection: string, rkey: string): Promise<void> {
    await this.authed(() => this.agent.com.atproto.repo.deleteRecord({ repo: this.did!, collection, rkey }, { signal: this.signal() }));
  }

  async getRecord(collection: string, rkey: string): Promise<CreatedRecord | null> {
    try {
      const res = await this.authed(() =>
        this.agent.com.atproto.repo.getRecord({ repo: this.did!, collection, rkey }, { signal: this.signal() }),
      );
      return res.data.cid ? { uri: res.data.uri, cid: res.data.cid } : null;
    } catch (err) {
      const e = toCallError(err);
      if (e.status === 400 && e.errorName === 'RecordNotFound') return null;
      if (e.status === 404) return null;
      throw e;
    }
  }
}
