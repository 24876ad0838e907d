/**
 * Change notification for a view: subscribers run at most once per animation frame (bursts
 * coalesce); a timer covers hidden tabs, where frames stop, and Node.
 */
export class ViewNotifier<V> {
  private listeners = new Set<(v: V) => void>();
  private scheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private frame: number | null = null;
  private closed = false;

  /** `before` and `after` run around the subscribers, once per notification. */
  constructor(
    private readonly target: V,
    private readonly hooks: { before(): void; after(): void },
  ) {}

  subscribe(fn: (v: V) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Asks for a notification (an arrow: it is passed around as an event handler). */
  readonly schedule = (): void => {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    const run = () => {
      if (!this.scheduled) return;
      this.cancel();
      this.emit();
    };
    if (typeof requestAnimationFrame === 'function') this.frame = requestAnimationFrame(run);
    this.timer = setTimeout(run, 50);
  };

  close(): void {
    this.closed = true;
    this.cancel();
    this.listeners.clear();
  }

  private cancel(): void {
    this.scheduled = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.frame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.frame);
    this.timer = null;
    this.frame = null;
  }

  private emit(): void {
    if (this.closed) return;
    this.hooks.before();
    for (const f of [...this.listeners]) {
      try {
        f(this.target);
      } catch (err) {
        console.error('skein: change listener failed', err);
      }
    }
    this.hooks.after();
  }
}
