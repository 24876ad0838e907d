/**
 * A view's read receipts: the live document's, merged with the relay's folded receipts of
 * the sealed messages in the history window (the latest `readAt` per message and user
 * wins). A receipt may name a message of a sealed generation that is not in the window:
 * its seq is looked up in the history store once, then the index is rebuilt.
 */
import { type Receipt, type ThreadRoots, receiptKey } from '../../shared/schema.ts';
import type { HistoryStore } from '../history/history-store.ts';
import type { HistoryWindow } from '../history/history-window.ts';
import { type ReceiptIndex, indexReceipts } from './receipts.ts';

/** A failed relay lookup is retried after this long. */
const RETRY_MS = 30_000;

export interface ReceiptsHost {
  threadId: string;
  roots(): ThreadRoots;
  history: HistoryWindow;
  historyStore(): Promise<HistoryStore | null>;
  isClosed(): boolean;
  /** Seqs up to this are sealed history (stored locally when looked up). */
  baseSeq(): number;
  /** The index changed (a looked-up seq arrived). */
  changed(): void;
}

export class ViewReceipts {
  private cache: ReceiptIndex | null = null;
  /** Seqs of old messages named by receipts, looked up in the history store. */
  private seqs = new Map<string, number>();
  private lookedUp = new Set<string>();

  constructor(private readonly host: ReceiptsHost) {}

  /** Drops the index (receipts, canon or the window changed). */
  invalidate(): void {
    this.cache = null;
  }

  get index(): ReceiptIndex {
    if (!this.cache) {
      const canon = this.host.roots().canon;
      const unknown: string[] = [];
      this.cache = indexReceipts(this.entries(), (id) => {
        const seq = canon.get(id)?.seq ?? this.host.history.get(id)?.seq ?? this.seqs.get(id);
        if (seq === undefined && !this.lookedUp.has(id)) unknown.push(id);
        return seq;
      });
      if (unknown.length) void this.lookUp(unknown);
    }
    return this.cache;
  }

  private entries(): Iterable<[string, Receipt]> {
    const live = this.host.roots().receipts;
    const hist = this.host.history.messages;
    if (!hist.some((m) => m.readBy)) return live.entries();
    const all = new Map<string, Receipt>();
    for (const m of hist) for (const [user, readAt] of Object.entries(m.readBy ?? {})) all.set(receiptKey(m.id, user), { readAt });
    for (const [key, r] of live.entries()) {
      const prev = all.get(key);
      if (!prev || (typeof r?.readAt === 'number' && r.readAt > prev.readAt)) all.set(key, r);
    }
    return all.entries();
  }

  /** IndexedDB first, then the relay for the rest (each id is asked once per view). */
  private async lookUp(ids: string[]): Promise<void> {
    for (const id of ids) this.lookedUp.add(id);
    const store = await this.host.historyStore();
    const found = (await store?.seqsOf(this.host.threadId, ids).catch(() => null)) ?? new Map<string, number>();
    const missing = ids.filter((id) => !found.has(id) && !this.host.roots().canon.has(id));
    if (missing.length > 0 && !this.host.isClosed()) {
      const fetched = await this.host.history.lookUp(missing, this.host.baseSeq()).catch(() => {
        // Offline: ask again later, not on every rebuild.
        setTimeout(() => missing.forEach((id) => this.lookedUp.delete(id)), RETRY_MS);
        return new Map<string, number>();
      });
      for (const [id, seq] of fetched) found.set(id, seq);
    }
    if (found.size === 0 || this.host.isClosed()) return;
    for (const [id, seq] of found) this.seqs.set(id, seq);
    this.cache = null;
    this.host.changed();
  }
}
