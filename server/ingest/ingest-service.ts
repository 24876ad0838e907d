/**
 * AT ingest in the relay: one SourceConsumer per enabled source, the applier that appends
 * accepted records to threads, commit-log retention, and the status capabilities report.
 */
import { IdResolver, MemoryCache } from '@atproto/identity';
import { readFileSync } from 'node:fs';
import type { IngestConfig } from '../config.ts';
import type { DocRegistry } from '../doc-registry.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import { CommitProcessor } from './commit-processor.ts';
import { IngestApplier } from './ingest-applier.ts';
import type { FederationSource } from './ingest-store.ts';
import { parseSourceInput } from './source-input.ts';
import { SourceConsumer } from './source-consumer.ts';

const DAY = 86_400_000;

export interface IngestStatus {
  /** At least one enabled source is connected right now. */
  active: boolean;
  degraded: boolean;
  reason?: string;
  sources: number;
}

export interface IngestServiceDeps {
  store: Store;
  registry: DocRegistry;
  config: IngestConfig;
  /** Messages of the relay's own repo come back on the firehose: they are its own. */
  ownDid: () => string | null;
  maxTextLength: number;
  log: Logger;
  metrics: RelayMetrics;
  /** After ingested messages were sequenced into a thread. */
  onThreadChanged?: (threadId: string) => void;
}

export class IngestService {
  private readonly consumers = new Map<string, SourceConsumer>();
  readonly applier: IngestApplier;
  private readonly processor: CommitProcessor;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly lagQueue: number[] = [];

  constructor(private readonly d: IngestServiceDeps) {
    // Without a DID cache every event costs a PLC lookup.
    const idResolver = new IdResolver({ plcUrl: d.config.plcUrl, didCache: new MemoryCache(60 * 60_000, 24 * 60 * 60_000) });
    this.processor = new CommitProcessor({
      store: d.store,
      ingest: d.store.ingest,
      idResolver,
      ownDid: d.ownDid,
      maxTextLength: d.maxTextLength,
      log: d.log,
    });
    this.applier = new IngestApplier({
      store: d.store,
      registry: d.registry,
      log: d.log,
      onApplied: (records) => {
        const threads = new Set(records.map((r) => r.threadId));
        for (const t of threads) d.onThreadChanged?.(t);
      },
    });
  }

  async start(): Promise<void> {
    if (this.d.config.sourcesFile) await this.loadSourcesFile(this.d.config.sourcesFile);
    await this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), 60 * 60_000);
    this.pruneTimer.unref();
    // Records a crash left stored but not yet appended to their threads.
    void this.applier.notify();
    for (const s of await this.d.store.ingest.listSources()) this.startSource(s);
  }

  /** Declares sources from a JSON file (an array of sources), upserted by name. */
  private async loadSourcesFile(file: string): Promise<void> {
    const list = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(list)) throw new Error('SKEIN_FEDERATION_SOURCES_FILE must hold a JSON array of sources');
    const existing = await this.d.store.ingest.listSources();
    for (const [i, raw] of list.entries()) {
      const parsed = parseSourceInput(raw, 'create');
      if (!parsed.ok) throw new Error(`SKEIN_FEDERATION_SOURCES_FILE: source ${i}: ${parsed.error}`);
      const same = existing.find((s) => s.name === parsed.value.name);
      if (same) await this.d.store.ingest.updateSource(same.id, parsed.value, Date.now());
      else await this.d.store.ingest.createSource(parsed.value, Date.now());
    }
  }

  private startSource(s: FederationSource): void {
    if (!s.isEnabled) return;
    const c = new SourceConsumer(s, {
      ingest: this.d.store.ingest,
      processor: this.processor,
      config: this.d.config,
      log: this.d.log,
      metrics: this.d.metrics,
      onAccepted: (eventTime) => {
        this.lagQueue.push(eventTime);
        void this.applier.notify().then(() => {
          const now = Date.now();
          for (const t of this.lagQueue.splice(0)) this.d.metrics.ingestLag.observe({ source: s.id }, (now - t) / 1000);
        });
      },
    });
    this.consumers.set(s.id, c);
    c.start();
  }

  /** Stops a source's consumer (before its state is reset or it is deleted). */
  async stopSource(sourceId: string): Promise<void> {
    await this.consumers.get(sourceId)?.stop();
    this.consumers.delete(sourceId);
  }

  /** Restarts a source's consumer after it changed (or stops it when deleted or disabled). */
  async reload(sourceId: string): Promise<void> {
    await this.stopSource(sourceId);
    const s = await this.d.store.ingest.getSource(sourceId);
    if (s) this.startSource(s);
  }

  private async prune(): Promise<void> {
    try {
      const n = await this.d.store.ingest.pruneCommitLog(Date.now() - this.d.config.commitLogRetentionDays * DAY);
      if (n) this.d.log.info({ event: 'commit_log_pruned', rows: n }, 'commit log pruned');
    } catch (err) {
      this.d.log.error({ event: 'commit_log_prune_failed', err: String(err) }, 'pruning the commit log failed');
    }
  }

  /** For capabilities: on while a source is connected; degraded while one fails or lags. */
  async status(): Promise<IngestStatus> {
    const consumers = [...this.consumers.values()];
    const states = await this.d.store.ingest.listSyncState({});
    const failing = states.filter((s) => s.did === null && this.consumers.has(s.sourceId) && (s.status === 'failing' || s.status === 'paused'));
    const lagging = consumers.filter((c) => c.connected && c.lastLagMs > this.d.config.lagThresholdMs);
    const reason = failing.length ? 'source_failing' : lagging.length ? 'source_lagging' : undefined;
    return {
      active: consumers.some((c) => c.connected),
      degraded: !!reason,
      ...(reason ? { reason } : {}),
      sources: consumers.length,
    };
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await Promise.all([...this.consumers.values()].map((c) => c.stop()));
    this.consumers.clear();
    await this.applier.stop();
  }
}
