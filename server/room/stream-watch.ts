/**
 * Ends streams whose author went quiet, and bounds what interrupted ones cost. The relay is
 * authoritative for interruption: a stream not written for `idleMs` (tab closed, connection
 * lost, a bot that died) is set to `interrupted` with the text so far, by the relay, so no
 * stream grows forever or vanishes. Interrupted entries are final and their author may not
 * remove them, so the relay does: an author keeps at most `keepInterrupted` of them (the
 * newest); an author who starts and aborts streams in a loop cannot grow the document.
 */
import type * as Y from 'yjs';
import type { StreamEntry } from '../../shared/stream.ts';

export class StreamWatch {
  /** Stream id → last time its entry changed (or the relay first saw it). */
  private readonly lastWrite = new Map<string, number>();
  /** Runs only while a stream is open: a loaded room with none wakes nobody (issue 29). */
  private timer: NodeJS.Timeout | null = null;
  private readonly periodMs: number;

  constructor(
    private readonly streams: Y.Map<StreamEntry>,
    private readonly idleMs: number,
    /** Queues a relay change of the document (committed, then sent to every peer). */
    private readonly write: (change: () => void) => void,
    /** Interrupted streams kept per author (the oldest beyond it are removed). */
    private readonly keepInterrupted: number,
  ) {
    const now = Date.now();
    // Open streams found at load (a restart): their authors get a full idle period to resume.
    this.periodMs = Math.max(50, Math.min(1000, idleMs / 4));
    for (const [id, e] of streams.entries()) if (e.status === 'streaming') this.lastWrite.set(id, now);
    streams.observe(this.onChange);
    this.arm();
  }

  /** Starts or stops the periodic sweep as streams open and end. */
  private arm(): void {
    if (this.lastWrite.size > 0 && !this.timer) {
      this.timer = setInterval(() => this.sweep(Date.now()), this.periodMs);
      this.timer.unref();
    } else if (this.lastWrite.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private onChange = (e: Y.YMapEvent<StreamEntry>): void => {
    const now = Date.now();
    const interrupted = new Set<string>();
    for (const id of e.keysChanged) {
      const v = this.streams.get(id);
      if (v?.status === 'streaming') this.lastWrite.set(id, now);
      else this.lastWrite.delete(id);
      if (v?.status === 'interrupted') interrupted.add(v.authorId);
    }
    this.arm();
    for (const author of interrupted) this.prune(author);
  };

  /** Removes `author`'s oldest interrupted streams beyond `keepInterrupted` (a relay change). */
  private prune(author: string): void {
    const extra = this.interruptedOf(author).length - this.keepInterrupted;
    if (extra <= 0) return;
    this.write(() => {
      // Decided again when the change is staged: the map may have moved meanwhile.
      const mine = this.interruptedOf(author);
      for (const [id] of mine.slice(0, Math.max(0, mine.length - this.keepInterrupted))) this.streams.delete(id);
    });
  }

  /** `author`'s interrupted streams, oldest first. */
  private interruptedOf(author: string): Array<[string, StreamEntry]> {
    const out: Array<[string, StreamEntry]> = [];
    for (const [id, v] of this.streams.entries()) if (v.authorId === author && v.status === 'interrupted') out.push([id, v]);
    return out.sort((a, b) => a[1].startedAt - b[1].startedAt || (a[0] < b[0] ? -1 : 1));
  }

  /** Interrupts the streams idle since before `now - idleMs` (all of them with `force`). */
  sweep(now: number, force = false): void {
    const stale: string[] = [];
    for (const [id, at] of this.lastWrite) if (force || now - at >= this.idleMs) stale.push(id);
    if (stale.length === 0) return;
    for (const id of stale) this.lastWrite.delete(id);
    this.arm();
    this.write(() => {
      for (const id of stale) {
        const v = this.streams.get(id);
        if (v?.status === 'streaming') this.streams.set(id, { ...v, status: 'interrupted', reason: 'idle' });
      }
    });
  }

  destroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.streams.unobserve(this.onChange);
  }
}
