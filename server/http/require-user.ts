/** Middleware: a valid bearer token, or 401. Sets `userId`. */
import type { MiddlewareHandler } from 'hono';
import { ErrorCode } from '../../shared/errors.ts';
import type { AppEnv, RelayContext } from '../context.ts';
import { HttpError } from './http-error.ts';

export function requireUser(ctx: RelayContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : null;
    const userId = await ctx.authenticate(c.req.raw, token);
    if (!userId) throw new HttpError(401, ErrorCode.UNAUTHENTICATED, 'a valid bearer token is required');
    c.set('userId', userId);
    await next();
  };
}
