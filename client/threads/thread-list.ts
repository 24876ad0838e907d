/**
 * The thread list: fetched from the relay (with `lastSeq` per thread), cached in the
 * local store so it shows offline, and the source of each thread's
 * `lastKnownBackendSeq` without opening every thread.
 */
import type { LocalStore } from '../local/local-store.ts';
import type { GenerationInfo, RelayApi, ThreadSummary } from '../link/relay-api.ts';

const KEY = 'threads';

interface Cached {
  threads: ThreadSummary[];
  fetchedAt: number;
}

export class ThreadList {
  private threads = new Map<string, ThreadSummary>();
  private order: string[] = [];
  fetchedAt: number | null = null;
  private inflight: Promise<ThreadSummary[]> | null = null;
  private listeners = new Set<() => void>();

  constructor(
    private readonly api: RelayApi,
    private readonly store: LocalStore,
  ) {}

  /** Loads the cached list (no network). */
  async load(): Promise<void> {
    const cached = await this.store.get<Cached>('kv', KEY);
    if (cached) this.set(cached.threads, cached.fetchedAt, false);
  }

  /** Threads, newest activity first. */
  list(): ThreadSummary[] {
    return this.order.map((id) => this.threads.get(id)!);
  }

  get(id: string): ThreadSummary | undefined {
    return this.threads.get(id);
  }

  /** The relay's last seq for a thread as last learned, undefined when never learned. */
  lastSeq(id: string): number | undefined {
    return this.threads.get(id)?.lastSeq;
  }

  /** Fetches the list from the relay; concurrent calls share one request. */
  refresh(): Promise<ThreadSummary[]> {
    if (!this.inflight) {
      this.inflight = this.api
        .listThreads()
        .then(({ threads }) => {
          this.set(threads, Date.now(), true);
          return this.list();
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  /** Fetches one thread's row (its current `lastSeq`). */
  async refreshThread(id: string): Promise<number> {
    const t = await this.api.getThread(id);
    const prev = this.threads.get(id);
    this.threads.set(id, { lastMessage: null, ...prev, ...t });
    if (!prev) this.order.push(id);
    void this.persist();
    this.emit();
    return t.lastSeq;
  }

  /** Raises a thread's known backend seq (from canon seen live); never lowers it. */
  noteSeq(id: string, seq: number): void {
    const t = this.threads.get(id);
    if (t && seq > t.lastSeq) t.lastSeq = seq;
  }

  /** Records a newer live generation learned from the relay (a 4410), never an older one. */
  noteGeneration(id: string, g: GenerationInfo): void {
    const t = this.threads.get(id) as (ThreadSummary & Partial<GenerationInfo>) | undefined;
    if (!t || (t.generation ?? 0) >= g.generation) return;
    Object.assign(t, g);
    void this.persist();
  }

  /** Drops a thread from the list and its cache (the user was removed from it). */
  remove(id: string): void {
    if (!this.threads.delete(id)) return;
    this.order = this.order.filter((x) => x !== id);
    void this.persist();
    this.emit();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(threads: ThreadSummary[], fetchedAt: number, persist: boolean): void {
    const sorted = [...threads].sort(
      (a, b) => (b.lastMessage?.sentAt ?? b.createdAt) - (a.lastMessage?.sentAt ?? a.createdAt),
    );
    this.threads = new Map(sorted.map((t) => [t.id, t]));
    this.order = sorted.map((t) => t.id);
    this.fetchedAt = fetchedAt;
    if (persist) void this.persist();
    this.emit();
  }

  private persist(): Promise<void> {
    return this.store.put('kv', KEY, { threads: this.list(), fetchedAt: this.fetchedAt ?? Date.now() } satisfies Cached).catch(() => {});
  }

  private emit(): void {
    for (const f of this.listeners) f();
  }
}
