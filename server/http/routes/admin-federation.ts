/**
 * `/v1/admin/federation/*`: federation sources, their sync state and the commit log. Open
 * only to `Authorization: Bearer <SKEIN_ADMIN_TOKEN>`; mounted only when that is set.
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { ErrorCode } from '../../../shared/errors.ts';
import type { AppEnv, RelayContext } from '../../context.ts';
import { HttpError, badRequest, notFound } from '../http-error.ts';
import type { IngestStore } from '../../at/ingest/ingest-store.ts';
import { parseSourceInput } from '../../at/ingest/source-input.ts';

const MAX_COMMITS = 1000;

export function requireAdmin(token: string): MiddlewareHandler<AppEnv> {
  const want = Buffer.from(token);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const got = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new HttpError(401, ErrorCode.UNAUTHENTICATED, 'the admin token is required');
    }
    await next();
  };
}

async function jsonBody(req: { json(): Promise<unknown> }): Promise<unknown> {
  return req.json().catch(() => {
    throw badRequest('body must be JSON');
  });
}

function intQuery(raw: string | undefined, name: string, def: number | undefined, max: number): number | undefined {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw badRequest(`${name} must be an integer from 0 to ${max}`);
  return n;
}

const isUniqueViolation = (err: unknown) => err instanceof Error && /UNIQUE|unique/.test(err.message);

export function adminFederationRoutes(ctx: RelayContext, token: string): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const ingest: IngestStore = ctx.store.ingest;
  const reload = (id: string) => ctx.ingest?.reload(id);
  app.use('*', requireAdmin(token));

  app.post('/sources', async (c) => {
    const parsed = parseSourceInput(await jsonBody(c.req), 'create');
    if (!parsed.ok) throw badRequest(parsed.error);
    try {
      const source = await ingest.createSource(parsed.value, Date.now());
      await reload(source.id);
      return c.json(source, 201);
    } catch (err) {
      if (isUniqueViolation(err)) throw new HttpError(409, ErrorCode.CONFLICT, 'name: a source with this name exists');
      throw err;
    }
  });

  app.get('/sources', async (c) => c.json({ sources: await ingest.listSources() }));

  app.get('/sources/:id', async (c) => {
    const s = await ingest.getSource(c.req.param('id'));
    if (!s) throw notFound('no such source');
    return c.json(s);
  });

  app.patch('/sources/:id', async (c) => {
    const parsed = parseSourceInput(await jsonBody(c.req), 'patch');
    if (!parsed.ok) throw badRequest(parsed.error);
    let s;
    try {
      s = await ingest.updateSource(c.req.param('id'), parsed.value, Date.now());
    } catch (err) {
      if (isUniqueViolation(err)) throw new HttpError(409, ErrorCode.CONFLICT, 'name: a source with this name exists');
      throw err;
    }
    if (!s) throw notFound('no such source');
    await reload(s.id);
    return c.json(s);
  });

  app.delete('/sources/:id', async (c) => {
    const id = c.req.param('id');
    await ctx.ingest?.stopSource(id);
    if (!(await ingest.deleteSource(id))) throw notFound('no such source');
    return c.body(null, 204);
  });

  app.get('/sync-state', async (c) => {
    const sourceId = c.req.query('sourceId') || undefined;
    const did = c.req.query('did') || undefined;
    return c.json({ syncState: await ingest.listSyncState({ sourceId, did }) });
  });

  /** Clears a failure or pause; `cursor` (opaque, e.g. a seq) replaces the stored one when given. */
  app.post('/sync-state/reset', async (c) => {
    const b = (await jsonBody(c.req)) as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null) throw badRequest('body must be a JSON object');
    if (typeof b.sourceId !== 'string') throw badRequest('sourceId is required');
    if (b.did !== undefined && b.did !== null && typeof b.did !== 'string') throw badRequest('did must be a string');
    if (b.cursor !== undefined && b.cursor !== null && !(typeof b.cursor === 'string' && /^\d{1,19}$/.test(b.cursor))) {
      throw badRequest('cursor must be a string of digits or null');
    }
    if (!(await ingest.getSource(b.sourceId))) throw notFound('no such source');
    const did = (b.did as string | undefined) ?? null;
    await ctx.ingest?.stopSource(b.sourceId);
    const state = await ingest.putSyncState(b.sourceId, did, {
      status: 'active',
      failureCount: 0,
      failureReason: null,
      nextAttemptAt: null,
      ...(b.cursor !== undefined ? { cursor: b.cursor as string | null } : {}),
      ...(did && b.cursor !== undefined ? { lastSeq: b.cursor === null ? 0 : Number(b.cursor) } : {}),
    });
    await reload(b.sourceId);
    return c.json({ syncState: [state] });
  });

  app.get('/commits', async (c) => {
    const commits = await ingest.listCommits({
      sourceId: c.req.query('sourceId') || undefined,
      did: c.req.query('did') || undefined,
      afterSeq: intQuery(c.req.query('afterSeq'), 'afterSeq', undefined, Number.MAX_SAFE_INTEGER),
      limit: intQuery(c.req.query('limit'), 'limit', 100, MAX_COMMITS)!,
    });
    return c.json({ commits });
  });

  return app;
}
