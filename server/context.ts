/** What the HTTP and WebSocket handlers share: one per relay process. */
import type { RelayConfig } from './config.ts';
import type { Auth } from './auth.ts';
import type { DocRegistry } from './doc-registry.ts';
import type { Logger } from './logger.ts';
import type { Store } from './store/store.ts';
import type { BridgeOutbox } from './bridge-outbox.ts';
import type { RelayMetrics } from './metrics.ts';
import type { UserEvents } from './user-events.ts';

export interface RelayContext {
  config: RelayConfig;
  store: Store;
  registry: DocRegistry;
  auth: Auth;
  log: Logger;
  metrics: RelayMetrics;
  /** The AT write bridge, or null when SKEIN_ATPROTO_SERVICE=off. */
  bridge: BridgeOutbox | null;
  /** Per-user push of thread-list changes (`/v1/events`). */
  userEvents: UserEvents;
  /** Set when shutdown has begun: `/v1/ready` answers 503 from then on. */
  draining?: boolean;
}

/** Hono variables set by the auth middleware. */
export interface AppEnv {
  Variables: { userId: string };
}
