/** Prometheus metrics of the relay (`GET /metrics`), via prom-client on a private registry. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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
  /** Set by the bridge; read at scrape time. */
  bridgeGauges: () => BridgeGauges = () => ({ depth: 0, oldestPendingAgeMs: 0, writesPerSecond: 0 });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'skein_' });
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
