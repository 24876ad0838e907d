/**
 * `skein/server`: the relay as a library. `createRelay` returns a Hono app to mount in your
 * own Hono app on Node (plus the WebSocket upgrade hook); `startRelay` runs it standalone,
 * as `npm start` and the `skein-relay` bin do.
 */
export {
  createRelay,
  resolveConfig,
  type AuthenticatePayload,
  type CreateRelayOptions,
  type MembershipPayload,
  type Relay,
  type RelayConfigInput,
  type RelayEvent,
} from './create-relay.ts';
export { startRelay, type RunningRelay, type StandaloneHooks } from './relay.ts';
export { ConfigError, loadConfig, type RelayConfig } from './config/config.ts';
export { SqliteStore } from './store/sqlite-store.ts';
export { PostgresStore, type PostgresOptions } from './store/postgres-store.ts';
export type { Store } from './store/store.ts';
