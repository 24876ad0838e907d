/**
 * Guest mode (`createSkeinClient({ guest: true })`): threads live only in this browser's
 * IndexedDB and are shared across its tabs; nothing is sent anywhere. `GuestApi` stands in
 * for the relay API on the local store, and `uploadGuestThreads` moves guest threads to a
 * relay after sign-in — same thread ids, same message ids and order, each message once.
 */
import { ulid } from 'ulid';
import { DEFAULT_MAX_TEXT_LENGTH } from '../../shared/schema.ts';
import { DEFAULT_STREAM_LIMITS } from '../../shared/stream.ts';
import type { LocalStore } from './local-store.ts';
import { type Capabilities, type NewThreadInput, RelayApi, SkeinRequestError, type ThreadSummary } from '../link/relay-api.ts';

const KEY = 'guest:threads';

type Row = Omit<ThreadSummary, 'lastMessage'>;

export class GuestApi extends RelayApi {
  constructor(
    private readonly store: LocalStore,
    private readonly userId: string,
  ) {
    // No base URL and a fetch that refuses: a guest client makes no network request.
    super('', () => '', () => Promise.reject(new Error('guest mode makes no network requests')));
  }

  private async rows(): Promise<Row[]> {
    return (await this.store.get<Row[]>('kv', KEY)) ?? [];
  }

  private async save(rows: Row[]): Promise<void> {
    await this.store.put('kv', KEY, rows);
  }

  override async listThreads(): Promise<{ threads: ThreadSummary[] }> {
    return { threads: (await this.rows()).map((t) => ({ ...t, lastMessage: null })) };
  }

  override async getThread(id: string): Promise<Row> {
    const t = (await this.rows()).find((r) => r.id === id);
    if (!t) throw new SkeinRequestError(404, 'NOT_FOUND', 'no such guest thread');
    return t;
  }

  override async createThread(input: NewThreadInput): Promise<Row> {
    if (input.mirror || input.follow) throw new SkeinRequestError(400, 'GUEST_MODE', 'guest threads stay in this browser: no AT mirroring or following');
    const row: Row = { id: ulid(), title: input.title ?? '', participants: [this.userId], owner: this.userId, moderators: [], remotes: [], atUri: null, mirror: false, archived: false, createdAt: Date.now(), lastSeq: 0, generation: 0, baseSeq: 0, liveDoc: '' };
    row.liveDoc = row.id; // guest threads never roll: they have no relay
    await this.save([...(await this.rows()), row]);
    return row;
  }

  override async archiveThread(id: string): Promise<unknown> {
    const rows = await this.rows();
    await this.save(rows.map((r) => (r.id === id ? { ...r, archived: true } : r)));
    return {};
  }

  /** Forgets a guest thread (after it was uploaded). */
  async removeThread(id: string): Promise<void> {
    await this.save((await this.rows()).filter((r) => r.id !== id));
  }

  override async capabilities(): Promise<Capabilities> {
    return {
      atproto: { features: { write_bridge: false, repo_ingest: false }, degraded: false },
      limits: { maxFrameBytes: 0, maxTextLength: DEFAULT_MAX_TEXT_LENGTH, ...DEFAULT_STREAM_LIMITS },
    };
  }

  override async retryMirror(): Promise<unknown> {
    throw new SkeinRequestError(400, 'GUEST_MODE', 'guest threads are not mirrored');
  }
}

/** What `uploadGuestThreads` needs of the two clients (both are SkeinClients). */
interface UploadClients {
  guest: {
    threads(): ThreadSummary[];
    openThread(id: string): { ready: Promise<void>; messages: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string; mine: boolean }> };
    removeLocalThread(id: string): Promise<void>;
  };
  to: {
    createThread(input: NewThreadInput & { id?: string }): Promise<ThreadSummary>;
    openThread(id: string): { ready: Promise<void>; importMessages(list: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string }>): Promise<number> };
  };
}

/**
 * Uploads guest threads to the relay of `to` (signed in): each keeps its id and its
 * messages' ids and order, now authored by the signed-in user; a thread already uploaded
 * (a retry after a crash) is completed, never doubled. Uploaded threads leave the guest
 * store. Resolves with the uploaded thread ids.
 */
export async function uploadGuestThreads(c: UploadClients, threadIds?: string[]): Promise<string[]> {
  const done: string[] = [];
  for (const t of c.guest.threads()) {
    if (threadIds && !threadIds.includes(t.id)) continue;
    const view = c.guest.openThread(t.id);
    await view.ready;
    const messages = view.messages.filter((m) => m.mine).map(({ id, text, clientSentAt, replyTo }) => ({ id, text, clientSentAt, ...(replyTo ? { replyTo } : {}) }));
    try {
      await c.to.createThread({ id: t.id, title: t.title, participants: [] });
    } catch (err) {
      // Created by an earlier attempt: finish it.
      if (!(err instanceof SkeinRequestError && err.status === 409)) throw err;
    }
    const target = c.to.openThread(t.id);
    await target.ready;
    await target.importMessages(messages);
    await c.guest.removeLocalThread(t.id);
    done.push(t.id);
  }
  return done;
}
