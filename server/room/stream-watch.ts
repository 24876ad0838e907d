/**
 * Ends streams whose author went quiet. The relay is authoritative for interruption: a
 * stream not written for `idleMs` (tab closed, connection lost, a bot that died) is set to
 * `interrupted` with the text so far, by the relay, so no stream grows forever or vanishes.
 */
import type * as Y from 'yjs';
import type { StreamEntry } from '../../shared/stream.ts';

export class StreamWatch {
  /** Stream id → last time its entry changed (or the relay first saw it). */
  private readonly lastWrite = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly streams: Y.Map<StreamEntry>,
    private readonly idleMs: number,
    /** Queues a relay change of the document (committed, then sent to every peer). */
    private readonly write: (change: () => void) => void,
  ) {
    const now = Date.now();
    // Open streams found at load (a restart): their authors get a full idle period to resume.
    for (const [id, e] of streams.entries()) if (e.status === 'streaming') this.lastWrite.set(id, now);
    streams.observe(this.onChange);
    this.timer = setInterval(() => this.sweep(Date.now()), Math.max(50, Math.min(1000, idleMs / 4)));
    this.timer.unref();
  }

  private onChange = (e: Y.YMapEvent<StreamEntry>): void => {
    const now = Date.now();
    for (const id of e.keysChanged) {
      const v = this.streams.get(id);
      if (v?.status === 'streaming') this.lastWrite.set(id, now);
      else this.lastWrite.delete(id);
    }
  };

  /** Interrupts the streams idle since before `now - idleMs` (all of them with `force`). */
  sweep(now: number, force = false): void {
    const stale: string[] = [];
    for (const [id, at] of this.lastWrite) if (force || now - at >= this.idleMs) stale.push(id);
    if (stale.length === 0) return;
    for (const id of stale) this.lastWrite.delete(id);
    this.write(() => {
      for (const id of stale) {
        const v = this.streams.get(id);
        if (v?.status === 'streaming') this.streams.set(id, { ...v, status: 'interrupted', reason: 'idle' });
      }
    });
  }

  destroy(): void {
    clearInterval(this.timer);
    this.streams.unobserve(this.onChange);
  }
}
