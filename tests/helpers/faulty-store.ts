/**
 * A real store (SQLite or PostgreSQL) with injected write failures, for the commit-first
 * tests: a chosen write throws once, N times, or at random, before it reaches the database
 * (`before`) or from inside its transaction once the relay's canon was staged (`inside`:
 * SQLite rolls the whole commit back; PostgreSQL has stored the message rows already).
 */
import type { Store, StoredMessage } from '../../server/store/store.ts';

/**
 * The calls that can fail: the writes — batches and relay appends (commitMessages), relay
 * changes (appendUpdate), compaction, rolls — and one read, the lookup of messages by id
 * (getMessages: sealed authors, receipted messages).
 */
export type FaultPoint = 'commitMessages' | 'appendUpdate' | 'compact' | 'rollGeneration' | 'getMessages';
export type FaultMode = 'before' | 'inside';

export class InjectedFault extends Error {
  constructor(readonly point: FaultPoint) {
    super(`injected fault: ${point}`);
    this.name = 'InjectedFault';
  }
}

export class Faults {
  private readonly planned = new Map<FaultPoint, { left: number; mode: FaultMode }>();
  private random: { p: number; rng: () => number; points: FaultPoint[] } | null = null;
  private readonly gates = new Map<FaultPoint, { arrive: () => void; opened: Promise<boolean> }>();
  /** Faults injected so far, per point. */
  readonly injected = new Map<FaultPoint, number>();

  /** The next `times` calls of `point` fail. */
  fail(point: FaultPoint, times = 1, mode: FaultMode = 'before'): this {
    this.planned.set(point, { left: times, mode });
    return this;
  }

  /** Every call of `points` fails with probability `p` (half of them `inside` where that applies). */
  failRandomly(p: number, rng: () => number, points: FaultPoint[] = ['commitMessages', 'appendUpdate', 'compact', 'rollGeneration']): this {
    this.random = { p, rng, points };
    return this;
  }

  /**
   * Holds the next call of `point` until `release` (then it fails with `fail`, or goes through):
   * a slow write, with the test deciding when it ends. `arrived` resolves once the call came.
   */
  gate(point: FaultPoint): { arrived: Promise<void>; release(fail?: boolean): void } {
    let arrive!: () => void;
    let open!: (fail: boolean) => void;
    const arrived = new Promise<void>((r) => (arrive = r));
    const opened = new Promise<boolean>((r) => (open = r));
    this.gates.set(point, { arrive, opened });
    return { arrived, release: (fail = false) => open(fail) };
  }

  /** The gate set for `point`, taken by its next call. */
  takeGate(point: FaultPoint): { arrive: () => void; opened: Promise<boolean> } | undefined {
    const g = this.gates.get(point);
    this.gates.delete(point);
    return g;
  }

  /** No more faults. */
  heal(): void {
    this.planned.clear();
    this.random = null;
  }

  get total(): number {
    let n = 0;
    for (const v of this.injected.values()) n += v;
    return n;
  }

  /** Whether this call of `point` fails, and how. */
  take(point: FaultPoint): FaultMode | null {
    const plan = this.planned.get(point);
    let mode: FaultMode | null = null;
    if (plan && plan.left > 0) {
      plan.left--;
      mode = plan.mode;
    } else if (this.random && this.random.points.includes(point) && this.random.rng() < this.random.p) {
      mode = point === 'commitMessages' && this.random.rng() < 0.5 ? 'inside' : 'before';
    }
    if (mode) this.injected.set(point, (this.injected.get(point) ?? 0) + 1);
    return mode;
  }
}

type CommitArgs = Parameters<Store['commitMessages']>;

/** `store` with `faults` injected into its writes; every other call goes straight through. */
export function faultyStore(store: Store, faults: Faults): Store {
  const FAULTY = ['commitMessages', 'appendUpdate', 'compact', 'rollGeneration', 'getMessages'];
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const point = prop as FaultPoint;
      if (!FAULTY.includes(point)) return (value as (...a: unknown[]) => unknown).bind(target);
      const call = (value as (...a: unknown[]) => Promise<unknown>).bind(target);
      const faulty = faultyCall(point, call);
      return async (...args: unknown[]) => {
        const gate = faults.takeGate(point);
        if (gate) {
          gate.arrive();
          if (await gate.opened) {
            faults.injected.set(point, (faults.injected.get(point) ?? 0) + 1);
            throw new InjectedFault(point);
          }
        }
        return faulty(...args);
      };
    },
  });

  function faultyCall(point: FaultPoint, call: (...a: unknown[]) => Promise<unknown>): (...a: unknown[]) => Promise<unknown> {
    if (point === 'commitMessages') {
      return (...a: unknown[]) => {
        const args = a as CommitArgs;
        const mode = faults.take(point);
        if (mode === 'before') return Promise.reject(new InjectedFault(point));
        if (mode === 'inside') {
          const [threadId, updates, candidates, now, opts = {}] = args;
          const relayRow = opts.relayRow;
          return call(threadId, updates, candidates, now, {
            ...opts,
            relayRow: (stored: StoredMessage[]) => {
              relayRow?.(stored);
              throw new InjectedFault(point);
            },
          });
        }
        return call(...args);
      };
    }
    return (...args: unknown[]) => (faults.take(point) ? Promise.reject(new InjectedFault(point)) : call(...args));
  }
}
