/**
 * One timer for the liveness pings of every WebSocket of the process, instead of one
 * `setInterval` per socket (issue 29). Per-socket timers started at different moments wake
 * the relay once per socket per interval — 167 times a second for 5,000 idle clients at
 * 30 s — where this wakes it `slots` times per interval and pings a slot's sockets together.
 * Each socket is still called once per interval; its first call comes within one interval.
 */
export class Heartbeat {
  private static readonly byInterval = new Map<number, Heartbeat>();

  /** The process's heartbeat for `intervalMs` (made on first use). */
  static every(intervalMs: number): Heartbeat {
    let h = Heartbeat.byInterval.get(intervalMs);
    if (!h) Heartbeat.byInterval.set(intervalMs, (h = new Heartbeat(intervalMs)));
    return h;
  }

  private readonly slots: Array<Set<() => void>>;
  /** The slot the next socket joins (round robin keeps them even). */
  private nextSlot = 0;
  /** The slot the next tick calls. */
  private turn = 0;
  private members = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param intervalMs How often each member is called.
   * @param slotCount Ticks per interval: more spreads the pings, fewer wakes less.
   */
  constructor(
    private readonly intervalMs: number,
    slotCount = 10,
  ) {
    this.slots = Array.from({ length: slotCount }, () => new Set());
  }

  /** Calls `beat` once per interval until the returned function is called. */
  add(beat: () => void): () => void {
    const slot = this.slots[this.nextSlot]!;
    this.nextSlot = (this.nextSlot + 1) % this.slots.length;
    slot.add(beat);
    if (this.members++ === 0) {
      this.timer = setInterval(() => this.tick(), this.intervalMs / this.slots.length);
      this.timer.unref();
    }
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      slot.delete(beat);
      if (--this.members === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  private tick(): void {
    const slot = this.slots[this.turn]!;
    this.turn = (this.turn + 1) % this.slots.length;
    // A beat may remove itself (its socket closed): a Set iterates safely past deletions.
    for (const beat of slot) beat();
  }
}
