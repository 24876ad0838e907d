/**
 * Follows one federation source's firehose: connects from the stored cursor, processes
 * commits in order (paced by the source's rate limit: delayed, never dropped), and keeps the
 * source-wide sync state honest — `active` while connected, `failing` with a backoff after a
 * failure, `paused` on FutureCursor (our cursor is ahead of the source: reconnecting would
 * loop; an operator resets it), `denied` when the source may not be ingested.
 */
import type { IngestConfig } from '../../config/config.ts';
import type { Logger } from '../../ops/logger.ts';
import type { RelayMetrics } from '../../ops/metrics.ts';
import { TokenBucket } from '../../ops/rate-limit.ts';
import { type CommitEvent, type CommitProcessor, isOurs } from './commit-processor.ts';
import { type FirehoseFrame, runFirehose, subscribeReposUrl } from './firehose-socket.ts';
import type { FederationSource, IngestStore, SyncState } from './ingest-store.ts';

/** Skipped events (not ours) between two cursor writes. */
const CURSOR_EVERY = 200;

export interface SourceConsumerDeps {
  ingest: IngestStore;
  processor: CommitProcessor;
  config: IngestConfig;
  log: Logger;
  metrics: RelayMetrics;
  /** After a commit stored accepted records: `eventTimes` maps their uri to the event time. */
  onAccepted: (eventTime: number) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

function isCommitEvent(b: Record<string, unknown>): b is Record<string, unknown> & CommitEvent {
  return (
    typeof b.seq === 'number' && typeof b.repo === 'string' && typeof b.rev === 'string' && Array.isArray(b.ops) &&
    b.blocks instanceof Uint8Array && b.commit != null && b.ops.every((o) => typeof o === 'object' && o !== null && typeof (o as { path?: unknown }).path === 'string')
  );
}

export class SourceConsumer {
  /** True while the firehose socket is open. */
  connected = false;
  /** Event time → processed of the newest commit of ours, ms (0 before any). */
  lastLagMs = 0;
  private readonly ac = new AbortController();
  private done: Promise<void> = Promise.resolve();
  private readonly bucket: TokenBucket;
  private cursor: string | null = null;
  private unsaved = 0;

  constructor(
    readonly source: FederationSource,
    private readonly d: SourceConsumerDeps,
  ) {
    const perMinute = source.rateLimitPerMinute;
    // Ten seconds' worth of burst, then the per-minute rate.
    this.bucket = new TokenBucket(perMinute / 60, Math.max(1, Math.ceil(perMinute / 6)));
  }

  start(): void {
    this.done = this.loop().catch((err) => {
      this.d.log.error({ event: 'ingest_source_crashed', sourceId: this.source.id, err: String(err) }, 'ingest consumer stopped');
      this.connected = false;
    });
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
  }

  private put(patch: Partial<Omit<SyncState, 'sourceId' | 'did'>>): Promise<SyncState> {
    return this.d.ingest.putSyncState(this.source.id, null, patch);
  }

  private async loop(): Promise<void> {
    const { source: src, d } = this;
    const signal = this.ac.signal;
    if (!src.allowIngest) {
      await this.put({ status: 'denied', failureReason: src.denyReason ?? 'ingest not allowed for this source' });
      return;
    }
    let state = await d.ingest.getSyncState(src.id, null);
    if (state?.status === 'paused') return;
    if (!state || state.status === 'denied') state = await this.put({ status: 'active', failureReason: null });
    this.cursor = state.cursor;
    let failures = state.failureCount;
    while (!signal.aborted) {
      const due = (await d.ingest.getSyncState(src.id, null))?.nextAttemptAt ?? 0;
      await sleep(due - Date.now(), signal);
      if (signal.aborted) break;
      await this.put({ lastAttemptAt: Date.now() });
      const outcome = await runFirehose({
        url: subscribeReposUrl(src.serviceEndpoint, this.cursor),
        signal,
        onOpen: async () => {
          this.connected = true;
          failures = 0;
          await this.put({ status: 'active', failureCount: 0, failureReason: null, nextAttemptAt: null });
          d.log.info({ event: 'ingest_source_connected', sourceId: src.id, cursor: this.cursor }, 'ingest source connected');
        },
        onFrame: (f) => this.onFrame(f),
      });
      this.connected = false;
      await this.saveCursor();
      if (signal.aborted) break;
      if (outcome.error === 'FutureCursor') {
        await this.put({ status: 'paused', failureReason: 'future_cursor: the stored cursor is ahead of the source; reset it' });
        d.log.warn({ event: 'ingest_future_cursor', sourceId: src.id, cursor: this.cursor }, 'source says our cursor is in its future; paused');
        return;
      }
      failures += 1;
      const delay = Math.min(d.config.backoffMaxMs, d.config.backoffBaseMs * 2 ** (failures - 1));
      const reason = (outcome.error ?? outcome.reason).slice(0, 200);
      await this.put({ status: 'failing', failureCount: failures, failureReason: reason, nextAttemptAt: Date.now() + Math.round(delay * (0.8 + Math.random() * 0.4)) });
      d.log.warn({ event: 'ingest_source_failed', sourceId: src.id, reason, failures, opened: outcome.opened }, 'ingest source connection failed');
    }
  }

  private async saveCursor(): Promise<void> {
    if (this.unsaved === 0 || this.cursor === null) return;
    this.unsaved = 0;
    await this.put({ cursor: this.cursor });
  }

  /** The cursor after `seq`: never moves back (a replayed or out-of-order event keeps it). */
  private advance(seq: number): string {
    const cur = this.cursor === null ? -1 : Number(this.cursor);
    this.cursor = Number.isFinite(cur) && cur > seq ? this.cursor! : String(seq);
    this.d.metrics.ingestCursor.set({ source: this.source.id }, Number(this.cursor));
    return this.cursor;
  }

  private async onFrame(f: FirehoseFrame): Promise<void> {
    const { source: src, d } = this;
    if (f.kind === 'error') {
      d.log.warn({ event: 'ingest_error_frame', sourceId: src.id, error: f.error }, 'source sent an error frame');
      return;
    }
    const seq = typeof f.body.seq === 'number' ? f.body.seq : null;
    if (f.type.endsWith('#info')) {
      const name = String(f.body.name ?? '');
      d.log.warn({ event: 'ingest_info', sourceId: src.id, name }, 'source sent an info frame');
      // The source no longer has events after our cursor: some may have been missed.
      if (name === 'OutdatedCursor') await this.put({ failureReason: 'outdated_cursor: events older than the source keeps were missed' });
      return;
    }
    if (!f.type.endsWith('#commit') || !isCommitEvent(f.body)) {
      if (seq !== null) {
        this.advance(seq);
        if (++this.unsaved >= CURSOR_EVERY) await this.saveCursor();
      }
      return;
    }
    const evt = f.body;
    if (!isOurs(evt)) {
      this.advance(evt.seq);
      if (++this.unsaved >= CURSOR_EVERY) await this.saveCursor();
      return;
    }
    d.metrics.ingestEvents.inc({ source: src.id, outcome: 'received' });
    for (let wait = this.bucket.waitMs(); wait > 0; wait = this.bucket.waitMs()) {
      await sleep(wait, this.ac.signal);
      if (this.ac.signal.aborted) throw new Error('stopped');
    }
    this.bucket.take();
    const cursor = this.advance(evt.seq);
    const res = await d.processor.process(src.id, evt, cursor, Date.now());
    this.unsaved = 0;
    const eventTime = Date.parse(evt.time);
    this.lastLagMs = Number.isFinite(eventTime) ? Math.max(0, Date.now() - eventTime) : 0;
    d.metrics.ingestEvents.inc({ source: src.id, outcome: res.status === 'skipped' ? 'skipped' : res.status });
    if (res.accepted > 0) d.onAccepted(Number.isFinite(eventTime) ? eventTime : Date.now());
  }
}
