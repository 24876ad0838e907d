/**
 * Probes: `/v1/health` is liveness (the process answers; with PostgreSQL / Redis also `postgres` / `redis: up|down`), `/v1/ready` readiness — the store
 * is open, the AT bridge (when configured) is logged in, and the relay is not draining.
 * Not ready answers 503 with the checks, so a load balancer stops routing to it.
 */
import { Hono } from 'hono';
import type { AppEnv, RelayContext } from '../../context.ts';

export interface ReadyChecks {
  store: 'open' | 'closed';
  /** `off` when no bridge is configured (or the embedded PDS failed); `starting` while the PDS starts or the first login runs. */
  bridge: 'off' | 'logged_in' | 'starting' | 'not_logged_in';
  draining: boolean;
}

export function readiness(ctx: RelayContext): { ready: boolean; checks: ReadyChecks } {
  const store = ctx.store.isOpen?.() === false ? 'closed' : 'open';
  const b = ctx.bridge?.status() ?? null;
  const bridge: ReadyChecks['bridge'] = !b ? (ctx.bridgeStarting ? 'starting' : 'off') : b.loggedIn ? 'logged_in' : b.starting ? 'starting' : 'not_logged_in';
  const draining = !!ctx.draining;
  return { ready: store === 'open' && (bridge === 'off' || bridge === 'logged_in') && !draining, checks: { store, bridge, draining } };
}

export function healthRoutes(ctx: RelayContext) {
  const r = new Hono<AppEnv>();
  // PostgreSQL (a query) and Redis (a PING) reachability when the relay uses them; absent
  // otherwise. While either is down the relay refuses writes (4503), but it is not made
  // unready for it: every instance shares those services, so no other one would do better.
  r.get('/health', async (c) => c.json({ ok: true, ...(await ctx.backends.report()) }));
  r.get('/ready', (c) => {
    const { ready, checks } = readiness(ctx);
    return c.json({ ready, checks }, ready ? 200 : 503);
  });
  return r;
}
