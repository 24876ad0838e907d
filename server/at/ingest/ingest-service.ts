/**
 * AT ingest in the relay: one SourceConsumer per enabled source, the applier that appends
 * accepted records to threads, commit-log retention, and the status capabilities report.
 * Only the instance holding the ingest lease runs consumers (ingest-lease.ts); it follows
 * source changes made through any instance's admin API by re-reading the sources.
 */
import { readFileSync } from 'node:fs';
import type { IngestConfig } from '../../config/config.ts';
import type { DocRegistry } from '../../room/doc-registry.ts';
import type { Logger } from '../../ops/logger.ts';
import type { RelayMetrics } from '../../ops/metrics.ts';
import type { Store } from '../../store/store.ts';
import type { CommitProcessor } from './commit-processor.ts';
import { IngestApplier } from './ingest-applier.ts';
import type { FederationSource } from './ingest-store.ts';
import { parseSourceInput } from './source-input.ts';
import type { SourceConsumer } from './source-consumer.ts';
import type { BackfillResult, ThreadBackfill } from './thread-backfill.ts';

const DAY = 86_400_000;
/** How often the lease is checked (and taken over) and the sources re-read. */
const LEASE_CHECK_MS = 3_000;

/** What running a source takes: loaded with the first source that runs. */
interface ConsumerKit {
  processor: CommitProcessor;
  SourceConsumer: typeof SourceConsumer;
  backfill: ThreadBackfill;
}

export interface IngestStatus {
  /** At least one enabled source is connected right now (on the leading instance). */
  active: boolean;
  /** This instance runs the consumers (the others share its database and wait). */
  leader: boolean;
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
  private consumerKit: Promise<ConsumerKit> | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private readonly lease;
  private leader = false;
  private leading: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly lagQueue: number[] = [];

  constructor(private readonly d: IngestServiceDeps) {
    this.lease = d.store.ingest.lease();
    this.applier = new IngestApplier({
      store: d.store,
      registry: d.registry,
      log: d.log,
      onApplied: (records) => {
        const threads = new Set(records.map((r) => r.threadId));
        for (const t of threads) d.onThreadChanged?.(t);
      },
      onChanged: (t) => d.onThreadChanged?.(t),
    });
  }

  /**
   * The firehose, commit verification and DID resolution are imported only once a source
   * runs: their @atproto packages take ~35 MiB of RSS, and most relays follow no source.
   */
  private kit(): Promise<ConsumerKit> {
    this.consumerKit ??= (async () => {
      const [{ IdResolver, MemoryCache }, { CommitProcessor }, { SourceConsumer }, { ThreadBackfill }] = await Promise.all([
        import('@atproto/identity'),
        import('./commit-processor.ts'),
        import('./source-consumer.ts'),
        import('./thread-backfill.ts'),
      ]);
      const d = this.d;
      // Without a DID cache every event costs a PLC lookup.
      const idResolver = new IdResolver({ plcUrl: d.config.plcUrl, didCache: new MemoryCache(60 * 60_000, 24 * 60 * 60_000) });
      const processor = new CommitProcessor({
        store: d.store,
        ingest: d.store.ingest,
        idResolver,
        ownDid: d.ownDid,
        maxTextLength: d.maxTextLength,
        log: d.log,
      });
      const backfill = new ThreadBackfill({
        store: d.store,
        idResolver,
        ownDid: d.ownDid,
        maxTextLength: d.maxTextLength,
        applier: this.applier,
        log: d.log,
      });
      return { processor, SourceConsumer, backfill };
    })();
    return this.consumerKit;
  }

  /**
   * Brings in a thread's existing messages from the repos of its remote members (or of
   * `dids`): on follow and when a remote member is added (thread-backfill.ts). Runs on any
   * instance, leader or not: it only stores records, which the applier appends by id.
   */
  async backfillThread(threadId: string, dids?: string[]): Promise<BackfillResult> {
    if (this.stopped) return { listed: 0, accepted: 0, rejected: 0, duplicates: 0 };
    return (await this.kit()).backfill.run(threadId, dids);
  }

  /** The thread record at `uri` (a followed thread's title and remote members), or null. */
  async threadRecord(uri: string): Promise<{ title: string | null; members: string[] } | null> {
    return (await this.kit()).backfill.threadRecord(uri);
  }

  async start(): Promise<void> {
    if (this.d.config.sourcesFile) await this.loadSourcesFile(this.d.config.sourcesFile);
    await this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), 60 * 60_000);
    this.pruneTimer.unref();
    // Records a crash left stored but not yet appended to their threads.
    void this.applier.notify();
    await this.lead();
    this.leaseTimer = setInterval(() => void this.lead(), LEASE_CHECK_MS);
    this.leaseTimer.unref();
  }

  /** Takes (or keeps) the lease and matches the consumers to the sources; stops them without it. */
  private lead(): Promise<void> {
    this.leading = this.leading.then(async () => {
      if (this.stopped) return;
      const held = await this.lease.tryAcquire();
      if (held !== this.leader) {
        // Said for someone who has not read the ingest docs: what this instance does now.
        this.d.log.info(
          { event: held ? 'ingest_lease_acquired' : 'ingest_lease_lost' },
          held
            ? 'this relay instance now reads the AT firehose of the federation sources into threads'
            : 'another relay instance reads the AT firehose now; this one stands by',
        );
      }
      this.leader = held;
      if (!held) {
        await Promise.all([...this.consumers.keys()].map((id) => this.stopSource(id)));
        return;
      }
      const sources = await this.d.store.ingest.listSources().catch(() => null);
      if (!sources) return;
      for (const s of sources) {
        const running = this.consumers.get(s.id);
        if (!running) await this.startSource(s);
        else if (running.source.updatedAt !== s.updatedAt) await this.reload(s.id);
      }
      for (const id of this.consumers.keys()) if (!sources.some((s) => s.id === id)) await this.stopSource(id);
    });
    return this.leading;
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

  private async startSource(s: FederationSource): Promise<void> {
    if (!s.isEnabled || !this.leader || this.stopped) return;
    const kit = await this.kit();
    // Checked again after the (first) import: things may have changed meanwhile.
    if (!this.leader || this.stopped || this.consumers.has(s.id)) return;
    const c = new kit.SourceConsumer(s, {
      ingest: this.d.store.ingest,
      processor: kit.processor,
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
    if (s) await this.startSource(s);
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
    // Another instance runs the consumers: what they recorded in the shared sync state.
    const othersActive = !this.leader && states.some((s) => s.did === null && s.status === 'active');
    return {
      active: consumers.some((c) => c.connected) || othersActive,
      leader: this.leader,
      degraded: !!reason,
      ...(reason ? { reason } : {}),
      sources: consumers.length,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.leading;
    await Promise.all([...this.consumers.values()].map((c) => c.stop()));
    this.consumers.clear();
    await this.lease.release();
    await this.applier.stop();
  }
}
