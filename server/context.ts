/** What the HTTP and WebSocket handlers share: one per relay process. */
import type { RelayConfig } from './config/config.ts';
import type { Auth } from './http/auth.ts';
import type { DocRegistry } from './room/doc-registry.ts';
import type { Logger } from './ops/logger.ts';
import type { Store, ThreadRow } from './store/store.ts';
import type { BridgeOutbox } from './at/bridge/outbox.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import type { Fanout } from './fanout/fanout.ts';
import type { UserEvents } from './http/user-events.ts';
import type { Tickets } from './http/tickets.ts';
import type { IngestService } from './at/ingest/ingest-service.ts';
import type { BackendHealth } from './ops/backend-health.ts';

export interface RelayContext {
  config: RelayConfig;
  store: Store;
  registry: DocRegistry;
  /** Issues dev tokens; verifies bearer tokens unless `authenticate` was replaced. */
  auth: Auth;
  /** The user id a request (HTTP or WebSocket upgrade) with this bearer token acts as, or null. */
  authenticate(request: Request, token: string | null): Promise<string | null>;
  /** Whether `userId` may read and write `thread` (sync and HTTP thread routes). */
  isMember(thread: ThreadRow, userId: string): Promise<boolean>;
  log: Logger;
  metrics: RelayMetrics;
  /**
   * The AT write bridge, or null when SKEIN_ATPROTO_SERVICE=off, while the embedded PDS
   * (`local`) still starts (see `bridgeStarting`) or when it failed to start.
   */
  bridge: BridgeOutbox | null;
  /**
   * Set while the embedded PDS starts in the background (`local` mode): the relay already
   * serves, mirrored messages queue in the outbox, and this settles with the bridge (null if
   * the PDS failed to start). Null once settled, and in every other mode.
   */
  bridgeStarting?: Promise<BridgeOutbox | null> | null;
  /** The embedded PDS failed to start: the bridge is off for this run (the log says why). */
  bridgeFailed?: boolean;
  /** AT ingest (firehose consumers); null until started. */
  ingest: IngestService | null;
  /** Single-use WebSocket tickets (`POST /v1/tickets`): in this process, or in Redis for every instance. */
  tickets: Tickets;
  /** Per-user push of thread-list changes (`/v1/events`). */
  userEvents: UserEvents;
  /** Fan-out to other relay instances (in-process when running alone). */
  fanout: Fanout;
  /** Reachability of PostgreSQL and Redis; gates writes while either is down. */
  backends: BackendHealth;
  /** Set when shutdown has begun: `/v1/ready` answers 503 from then on. */
  draining?: boolean;
}

/** Hono variables set by the auth middleware. */
export interface AppEnv {
  /** `bodyLimited`: a body limit already applies to this request (limit-body.ts). */
  Variables: { userId: string; bodyLimited: boolean };
}
