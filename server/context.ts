/** What the HTTP and WebSocket handlers share: one per relay process. */
import type { RelayConfig } from './config.ts';
import type { Auth } from './auth.ts';
import type { DocRegistry } from './doc-registry.ts';
import type { Logger } from './logger.ts';
import type { Store } from './store/store.ts';

export interface RelayContext {
  config: RelayConfig;
  store: Store;
  registry: DocRegistry;
  auth: Auth;
  log: Logger;
}

/** Hono variables set by the auth middleware. */
export interface AppEnv {
  Variables: { userId: string };
}
