/**
 * Runs backlog-precut.ts off the event loop (issue 28): one worker thread per relay, started
 * on the first large backlog. A backlog of 2 MB took 1.4–2 s of the loop to decode and check;
 * the worker takes that time instead and the loop only decodes the part it hands back.
 *
 * Should the worker fail to start or die, the cut runs on the loop as before (slower, never
 * lost); after three failures the relay stops starting workers.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../ops/logger.ts';
import { type Precut, precutBacklog } from './backlog-precut.ts';

/** What the room asks of a large backlog (see precutBacklog). */
export interface PrecutJob {
  backlog: Uint8Array;
  stateVector: Uint8Array;
  keep: number;
  maxBytes: number;
}

/** Posted to the worker. */
export interface PrecutRequest extends PrecutJob {
  id: number;
}

/** Posted back by the worker. */
export interface PrecutResponse {
  id: number;
  result: Precut;
}

const MAX_FAILURES = 3;

/**
 * The worker thread. Run from the sources (tests, `tsx`), the worker is TypeScript: Node 20
 * does not hand `--import tsx` on to a worker, so it loads itself through tsx's API.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./backlog-worker.js', import.meta.url));
  const entry = new URL('./backlog-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`, { eval: true });
}

export class BacklogOffload {
  private worker: Worker | null = null;
  private failures = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { job: PrecutJob; resolve: (p: Precut) => void }>();

  constructor(private readonly log: Logger) {}

  /** Cuts `job.backlog` in the worker (on the loop when there is none). */
  precut(job: PrecutJob): Promise<Precut> {
    const worker = this.ensureWorker();
    if (!worker) return Promise.resolve(precutBacklog(job.backlog, job.stateVector, job.keep, job.maxBytes));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, { job, resolve });
      // A copy of its own, moved to the worker; the job keeps the original for a fallback.
      const backlog = job.backlog.slice();
      const request: PrecutRequest = { id, backlog, stateVector: job.stateVector, keep: job.keep, maxBytes: job.maxBytes };
      worker.postMessage(request, [backlog.buffer as ArrayBuffer]);
    });
  }

  /** Stops the worker; cuts still waiting are done on the loop. */
  async close(): Promise<void> {
    const w = this.worker;
    this.failures = MAX_FAILURES;
    this.worker = null;
    this.answerOnLoop();
    await w?.terminate();
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failures >= MAX_FAILURES) return this.worker;
    try {
      const w = startWorker();
      w.unref();
      w.once('online', () => this.log.info({ event: 'backlog_worker_started' }, 'backlog worker started: large backlogs are cut off the event loop'));
      w.on('message', (m: PrecutResponse) => {
        const e = this.waiting.get(m.id);
        if (!e) return;
        this.waiting.delete(m.id);
        e.resolve(m.result);
      });
      w.on('error', (err) => this.failed(w, String(err)));
      w.on('exit', (code) => this.failed(w, `exited with ${code}`));
      this.worker = w;
    } catch (err) {
      this.failed(null, String(err));
    }
    return this.worker;
  }

  private failed(w: Worker | null, why: string): void {
    if (w !== this.worker) return;
    this.worker = null;
    this.failures++;
    this.log.error({ event: 'backlog_worker_failed', err: why, failures: this.failures }, 'backlog worker failed: cutting backlogs on the event loop');
    this.answerOnLoop();
  }

  private answerOnLoop(): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const { job, resolve } of waiting) resolve(precutBacklog(job.backlog, job.stateVector, job.keep, job.maxBytes));
  }
}
