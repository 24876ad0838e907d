/**
 * A view's render cache: the newest messages as last rendered, kept in IndexedDB so that a
 * thread of any length paints at once on the next open, before its local copy is loaded.
 * Saved right after the first full render (a short visit still leaves one), then at most
 * once per interval, and on close; only what the app already computed is stored.
 */
import type { LocalStore } from '../local/local-store.ts';
import type { ViewMessage } from './message-list.ts';

/** Newest messages kept. */
const WINDOW_SIZE = 200;
const SAVE_INTERVAL_MS = 1_000;

export class RenderWindow {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private savedFor: readonly ViewMessage[] | null = null;
  /** What was last written: paging older messages in rebuilds the list, not its newest part. */
  private savedJson = '';
  private savedOnce = false;

  constructor(
    private readonly store: LocalStore,
    private readonly threadId: string,
    /** The full message list as last built for subscribers (null before the local copy loaded). */
    private readonly built: () => readonly ViewMessage[] | null,
  ) {}

  /** The cached window from the last visit (undefined when none). */
  async load(): Promise<ViewMessage[] | undefined> {
    const w = await this.store.get<ViewMessage[]>('kv', `window:${this.threadId}`).catch(() => undefined);
    return Array.isArray(w) && w.length > 0 ? w : undefined;
  }

  /** Before subscribers run: schedules the periodic save. */
  beforeRender(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.save();
    }, SAVE_INTERVAL_MS);
  }

  /** After subscribers ran: the first full render is saved at once. */
  afterRender(): void {
    if (this.savedOnce || !this.built()?.length) return;
    this.savedOnce = true;
    void this.save();
  }

  async save(): Promise<void> {
    const all = this.built();
    if (!all || all === this.savedFor) return;
    this.savedFor = all;
    const window = all.slice(Math.max(0, all.length - WINDOW_SIZE));
    // Unchanged, a write would only grow the log IndexedDB compacts later (every second while paging back).
    const json = JSON.stringify(window);
    if (json === this.savedJson) return;
    this.savedJson = json;
    await this.store.put('kv', `window:${this.threadId}`, window).catch(() => {});
  }

  /** Stops the timer and saves what is pending. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.save();
  }
}
