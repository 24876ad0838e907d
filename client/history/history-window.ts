/**
 * The part of a thread's sealed history a view holds in memory: a contiguous run of
 * canonical messages `lo..hi` ending at the live document's `baseSeq`, paged in from
 * IndexedDB (HistoryStore) and, when missing there, from the relay (stored as they arrive).
 * Contiguity is what lets sync validation run over "window + live canon" without ever
 * reading all of history.
 */
import { missingRanges } from '../../shared/window-rules.ts';
import { PAGE_SEQS } from './history-page.ts';
import type { HistoryStore, SealedMessage } from './history-store.ts';
import type { MessagesPage, RelayApi } from '../link/relay-api.ts';

/** Largest page the relay serves (server/http/routes/threads.ts MAX_PAGE). */
const RELAY_PAGE = 1000;

export class HistoryWindow {
  /** Ascending, contiguous seqs, the last one equal to `end` (or empty). */
  private list: SealedMessage[] = [];
  private byId = new Map<string, SealedMessage>();
  /** The seq the window ends at (the live document's baseSeq). */
  private end = 0;
  /** Bumped on every change, so derived data knows to rebuild. */
  version = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly threadId: string,
    private readonly store: () => Promise<HistoryStore | null>,
    private readonly api: RelayApi | null,
    private readonly onChange: () => void,
  ) {}

  /** The messages held, ascending by seq. */
  get messages(): readonly SealedMessage[] {
    return this.list;
  }

  get(id: string): SealedMessage | undefined {
    return this.byId.get(id);
  }

  /** Lowest seq held, or `end + 1` when empty. */
  get lo(): number {
    return this.list[0]?.seq ?? this.end + 1;
  }

  /** True while sealed messages older than the window exist. */
  get hasOlder(): boolean {
    return this.lo > 1;
  }

  /**
   * Moves the window's end to `baseSeq` (a newer generation): keeps what it holds and adds
   * `hi+1..baseSeq` (from IndexedDB, the rest from the relay: only the missing range). A
   * window that would have to grow by more than `keepAtMost` starts over from the newest.
   */
  setEnd(baseSeq: number, keepAtMost = 200): Promise<void> {
    return this.serial(async () => {
      if (baseSeq <= this.end) return;
      const from = this.end + 1;
      if (this.list.length === 0 || baseSeq - this.end > keepAtMost) {
        this.replace([], baseSeq);
        await this.pageOlder(Math.min(keepAtMost, 50));
        return;
      }
      const got = await this.range(from, baseSeq);
      if (got.length === baseSeq - this.end) return this.replace(this.list.concat(got), baseSeq);
      // Could not close the gap (offline): the window restarts at the new end, contiguous.
      this.replace([], baseSeq);
      await this.pageOlder(50);
    });
  }

  /** Pages in up to `count` older messages; resolves with how many were added. */
  loadOlder(count: number): Promise<number> {
    return this.serial(() => this.pageOlder(count));
  }

  /** Stores messages fetched elsewhere (a rebase's `afterSeq` fetch) without showing them. */
  async remember(messages: readonly SealedMessage[]): Promise<void> {
    const store = await this.store();
    await store?.put(this.threadId, messages).catch(() => {});
  }

  /**
   * Canonical messages `from..to` (inclusive), ascending: IndexedDB first, then only the
   * ranges it lacks from the relay's `afterSeq` (stored as they arrive). Ends early at the
   * first seq neither has (offline, or not sequenced yet).
   */
  async range(from: number, to: number): Promise<SealedMessage[]> {
    if (to < from) return [];
    const store = await this.store();
    const local = (await store?.range(this.threadId, from, to).catch(() => [])) ?? [];
    const bySeq = new Map(local.map((m) => [m.seq, m]));
    for (const gap of missingRanges(bySeq.keys(), from, to)) {
      const fetched = await this.fetchAfter(gap.from - 1, gap.to).catch(() => []);
      for (const m of fetched) bySeq.set(m.seq, m);
    }
    const out: SealedMessage[] = [];
    for (let s = from; s <= to && bySeq.has(s); s++) out.push(bySeq.get(s)!);
    return out;
  }

  /** Fetches `afterSeq+1..upTo` from the relay (pages of at most RELAY_PAGE) and stores it. */
  async fetchAfter(afterSeq: number, upTo: number): Promise<SealedMessage[]> {
    if (!this.api) return [];
    const out: SealedMessage[] = [];
    let after = afterSeq;
    while (after < upTo) {
      const page = await this.api.messagesAfter(this.threadId, after, Math.min(RELAY_PAGE, upTo - after));
      const msgs = withReceipts(page).filter((m) => m.seq > after && m.seq <= upTo);
      if (msgs.length === 0) break;
      out.push(...msgs);
      after = msgs[msgs.length - 1]!.seq;
    }
    await this.remember(out);
    return out;
  }

  /**
   * Seqs of messages named by id (e.g. by receipts) that neither the window nor IndexedDB
   * holds, asked of the relay; sealed ones are stored as they arrive.
   */
  async lookUp(ids: readonly string[], sealedUpTo: number): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (!this.api || ids.length === 0) return found;
    for (let i = 0; i < ids.length; i += RELAY_PAGE) {
      const page = await this.api.messagesById(this.threadId, ids.slice(i, i + RELAY_PAGE));
      const msgs = withReceipts(page);
      await this.remember(msgs.filter((m) => m.seq <= sealedUpTo));
      for (const m of msgs) found.set(m.id, m.seq);
    }
    return found;
  }

  private async pageOlder(count: number): Promise<number> {
    const below = this.lo;
    if (below <= 1 || count <= 0) return 0;
    const want = Math.min(count, below - 1);
    const store = await this.store();
    let got = contiguousTail((await store?.newest(this.threadId, below, want).catch(() => [])) ?? [], below);
    if (got.length < want && this.api) {
      // The rest from the relay, below what IndexedDB had.
      const under = below - got.length;
      const need = want - got.length;
      try {
        // Paging back, ask down to a cache page's first seq: each page is then written once,
        // whole, instead of again by every later request that reaches into it. Not for the
        // first page of an empty window, which is on the way to the first paint.
        const ask = this.list.length === 0 ? need : Math.min(RELAY_PAGE, under - Math.max(1, Math.floor((under - need) / PAGE_SEQS) * PAGE_SEQS));
        const page = await this.api.messagesBefore(this.threadId, under, ask);
        const fetched = contiguousTail(withReceipts(page).filter((m) => m.seq < under), under);
        await this.remember(fetched);
        got = fetched.slice(-need).concat(got);
      } catch {
        /* offline: what IndexedDB had */
      }
    }
    if (got.length === 0) return 0;
    this.replace(got.concat(this.list), this.end);
    return got.length;
  }

  private replace(list: SealedMessage[], end: number): void {
    this.list = list;
    this.end = end;
    this.byId = new Map(list.map((m) => [m.id, m]));
    this.version++;
    this.onChange();
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => {});
    return run;
  }
}

/** The page's messages with the relay's folded receipts attached (`readBy`). */
function withReceipts(page: MessagesPage): SealedMessage[] {
  if (!page.receipts?.length) return page.messages;
  const by = new Map<string, Record<string, number>>();
  for (const r of page.receipts) {
    const m = by.get(r.messageId) ?? {};
    if (!(r.userId in m) || m[r.userId]! < r.readAt) m[r.userId] = r.readAt;
    by.set(r.messageId, m);
  }
  return page.messages.map((m) => (by.has(m.id) ? { ...m, readBy: by.get(m.id)! } : m));
}

/** The run of `msgs` (ascending) that ends at `below - 1` with no gap. */
function contiguousTail(msgs: readonly SealedMessage[], below: number): SealedMessage[] {
  let expect = below - 1;
  let i = msgs.length - 1;
  while (i >= 0 && msgs[i]!.seq === expect) {
    i--;
    expect--;
  }
  return msgs.slice(i + 1);
}
