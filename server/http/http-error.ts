/** HTTP errors with the `{error: {code, message}}` body every route answers with. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ErrorCode, type ErrorBody } from '../../shared/errors.ts';

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable facts added to the error body, e.g. the `maxBytes` of a 413. */
    readonly details: Omit<ErrorBody['error'], 'code' | 'message'> = {},
  ) {
    super(message);
  }
}

export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof HttpError) {
    return c.json({ error: { ...err.details, code: err.code, message: err.message } } satisfies ErrorBody, err.status);
  }
  return c.json({ error: { code: ErrorCode.INTERNAL, message: 'internal error' } } satisfies ErrorBody, 500);
}

export const badRequest = (message: string) => new HttpError(400, ErrorCode.BAD_REQUEST, message);
export const notFound = (message = 'not found') => new HttpError(404, ErrorCode.NOT_FOUND, message);
