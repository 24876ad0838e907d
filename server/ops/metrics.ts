/** Prometheus metrics of the relay (`GET /metrics`), via prom-client on a private registry. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type FailureClass = 'network' | 'server' | 'rate_limited' | 'invalid' | 'too_large' | 'auth' | 'rejected';

export interface BridgeGauges {
  depth: number;
  oldestPendingAgeMs: number;
  writesPerSecond: number;
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly bridgeWrites: Counter;
  readonly bridgeFailures: Counter<'class'>;
  /** Ingest: firehose events per source and outcome (received, applied, rejected, duplicate, out_of_order). */
  readonly ingestEvents: Counter<'source' | 'outcome'>;
  /** Ingest: event time (the PDS's `time`) → message sequenced in its thread, seconds. */
  readonly ingestLag: Histogram<'source'>;
  /** Ingest: the stored cursor (last seq) per source. */
  readonly ingestCursor: Gauge<'source'>;
  /** WebSocket upgrades refused because the client left while they were being authorized. */
  readonly wsUpgradesAbandoned: Counter;
  /** Open WebSockets that count toward a user's cap, by socket (`sync`, `events`). */
  readonly wsConnections: Gauge<'socket'>;
  /** Set by the bridge; read at scrape time. */
  bridgeGauges: () => BridgeGauges = () => ({ depth: 0, oldestPendingAgeMs: 0, writesPerSecond: 0 });

  constructor() {
    // The event-loop delay histogram samples with a timer: at prom-client's default 10 ms that
    // is 100 wake-ups a second of an idle relay (issue 29); 50 ms still sees every stall that
    // matters (a delay is measured from when the timer was due, so a long stall shows whole).
    collectDefaultMetrics({ register: this.registry, prefix: 'skein_', eventLoopMonitoringPrecision: 50 });
    const reg = [this.registry];
    this.bridgeWrites = new Counter({
      name: 'skein_bridge_writes_total',
      help: 'Records written to the PDS by the AT write bridge',
      registers: reg,
    });
    this.bridgeFailures = new Counter({
      name: 'skein_bridge_failures_total',
      help: 'Failed AT write bridge calls or records, by failure class',
      labelNames: ['class'],
      registers: reg,
    });
    this.ingestEvents = new Counter({
      name: 'skein_ingest_events_total',
      help: 'AT ingest: firehose commits per source and outcome (received counts every commit touching dev.skein.chat.*)',
      labelNames: ['source', 'outcome'],
      registers: reg,
    });
    this.ingestLag = new Histogram({
      name: 'skein_ingest_lag_seconds',
      help: 'AT ingest: event time on the source to message sequenced in its thread',
      labelNames: ['source'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: reg,
    });
    this.ingestCursor = new Gauge({
      name: 'skein_ingest_cursor',
      help: 'AT ingest: stored firehose cursor (seq) per source',
      labelNames: ['source'],
      registers: reg,
    });
    this.wsUpgradesAbandoned = new Counter({
      name: 'skein_ws_upgrades_abandoned_total',
      help: 'WebSocket upgrades whose client closed its connection while they were being authorized (refused, nothing kept)',
      registers: reg,
    });
    this.wsConnections = new Gauge({
      name: 'skein_ws_connections',
      help: "Open WebSockets counted toward their user's cap, by socket (sync, events); a dead one leaves at its ping timeout",
      labelNames: ['socket'],
      registers: reg,
    });
    // Both series from the start: a scrape before the first socket reads 0, not nothing.
    this.wsConnections.set({ socket: 'sync' }, 0);
    this.wsConnections.set({ socket: 'events' }, 0);
    const self = this;
    new Gauge({
      name: 'skein_bridge_queue_depth',
      help: 'Messages waiting in the AT outbox',
      registers: reg,
      collect() {
        this.set(self.bridgeGauges().depth);
      },
    });
    new Gauge({
      name: 'skein_bridge_oldest_pending_age_seconds',
      help: 'Age of the oldest message waiting to be mirrored',
      registers: reg,
      collect() {
        this.set(self.bridgeGauges().oldestPendingAgeMs / 1000);
      },
    });
    new Gauge({
      name: 'skein_bridge_writes_per_second',
      help: 'Records written to the PDS per second over the last 10 seconds',
      registers: reg,
      collect() {
        this.set(self.bridgeGauges().writesPerSecond);
      },
    });
  }
}
