/**
 * Screen-reader announcements through one polite live region, rate-limited: at most one
 * announcement per interval, and a burst (e.g. a reconnect delivering 40 messages) is
 * summarised in one sentence instead of read out message by message.
 */
export class Announcer {
  private queue: string[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastAt = 0;
  /** Every announcement made, newest last (bounded; for tests and debugging). */
  readonly history: string[] = [];

  constructor(
    private readonly region: HTMLElement,
    private readonly intervalMs = 1500,
    private readonly maxItems = 3,
  ) {}

  /** Queues `text`; it is spoken within `intervalMs`, possibly merged into a summary. */
  say(text: string): void {
    this.queue.push(text);
    if (this.timer) return;
    const wait = Math.max(0, this.lastAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    const items = this.queue;
    this.queue = [];
    if (items.length === 0) return;
    const clean = items.map((t) => t.replace(/\.+$/, ''));
    const text = (clean.length <= this.maxItems ? clean.join('. ') : `${clean.length} updates, the latest: ${clean[clean.length - 1]}`) + '.';
    this.lastAt = Date.now();
    this.region.textContent = text;
    this.history.push(text);
    if (this.history.length > 100) this.history.shift();
  }
}
