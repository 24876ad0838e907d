/** `/v1/dev`: token minting for local development. Mounted only when SKEIN_DEV_AUTH=1. */
import { Hono } from 'hono';
import { isLocalUserId } from '../../../shared/schema.ts';
import type { AppEnv, RelayContext } from '../../context.ts';
import { badRequest } from '../http-error.ts';

export function devRoutes(ctx: RelayContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/token', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { userId?: unknown } | null;
    const userId = body?.userId;
    if (typeof userId !== 'string' || !isLocalUserId(userId)) throw badRequest('userId must be a non-empty string without "|" or "@did:"');
    return c.json({ token: await ctx.auth.issue(userId) });
  });
  return app;
}
