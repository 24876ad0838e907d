/**
 * A room's serial work: flushes, catch-ups, ingest appends and repairs run one at a time, in
 * the order they were queued, so no two of them interleave their store calls or document
 * changes. A task that fails is reported and the chain goes on: one failure must not stall
 * every later write of the thread.
 */
export class RoomChain {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Queues a task whose failure is only reported. */
  add(task: () => Promise<void> | void): void {
    this.tail = this.tail.then(task).catch(this.onError);
  }

  /** Queues a task and resolves or rejects with its outcome (the chain goes on either way). */
  run<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.then(task);
    this.tail = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  /** Resolves once every task queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }
}
