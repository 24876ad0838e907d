/**
 * Validation of federation source input (admin API and SKEIN_FEDERATION_SOURCES_FILE).
 * Errors name the field, so a 400 says what to fix.
 */
import { SOURCE_KINDS, type SourceInput, type SourceKind } from './ingest-store.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_NAME = 200;
const MAX_REASON = 500;
const MAX_METADATA_BYTES = 8192;
const MAX_RATE = 1_000_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An absolute http(s) or ws(s) URL without credentials. */
export function checkEndpoint(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 2048) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) || u.username || u.password || !u.hostname) return null;
  return raw.replace(/\/+$/, '');
}

const FIELDS = ['kind', 'name', 'serviceEndpoint', 'isEnabled', 'allowIngest', 'denyReason', 'rateLimitPerMinute', 'metadata'] as const;

/**
 * `create` requires kind, name, serviceEndpoint, isEnabled, allowIngest and rateLimitPerMinute;
 * `patch` takes any subset of the fields.
 */
export function parseSourceInput(body: unknown, mode: 'create'): Parsed<SourceInput>;
export function parseSourceInput(body: unknown, mode: 'patch'): Parsed<Partial<SourceInput>>;
export function parseSourceInput(body: unknown, mode: 'create' | 'patch'): Parsed<Partial<SourceInput>> {
  if (!isObject(body)) return { ok: false, error: 'body must be a JSON object' };
  for (const k of Object.keys(body)) {
    if (!(FIELDS as readonly string[]).includes(k)) return { ok: false, error: `unknown field ${JSON.stringify(k).slice(0, 60)}` };
  }
  const out: Partial<SourceInput> = {};
  const has = (k: string) => body[k] !== undefined;
  const required = mode === 'create' ? ['kind', 'name', 'serviceEndpoint', 'isEnabled', 'allowIngest', 'rateLimitPerMinute'] : [];
  for (const k of required) if (!has(k)) return { ok: false, error: `${k} is required` };
  if (has('kind')) {
    if (!SOURCE_KINDS.includes(body.kind as SourceKind)) return { ok: false, error: `kind must be one of ${SOURCE_KINDS.join(', ')}` };
    out.kind = body.kind as SourceKind;
  }
  if (has('name')) {
    if (typeof body.name !== 'string' || !body.name.trim() || body.name.length > MAX_NAME) {
      return { ok: false, error: `name must be a non-empty string of at most ${MAX_NAME} characters` };
    }
    out.name = body.name.trim();
  }
  if (has('serviceEndpoint')) {
    const url = checkEndpoint(body.serviceEndpoint);
    if (!url) return { ok: false, error: 'serviceEndpoint must be an absolute http(s) or ws(s) URL without credentials' };
    out.serviceEndpoint = url;
  }
  for (const k of ['isEnabled', 'allowIngest'] as const) {
    if (!has(k)) continue;
    if (typeof body[k] !== 'boolean') return { ok: false, error: `${k} must be a boolean` };
    out[k] = body[k] as boolean;
  }
  if (has('denyReason') || mode === 'create') {
    const r = body.denyReason ?? null;
    if (r !== null && (typeof r !== 'string' || r.length > MAX_REASON)) {
      return { ok: false, error: `denyReason must be null or a string of at most ${MAX_REASON} characters` };
    }
    out.denyReason = r as string | null;
  }
  if (has('rateLimitPerMinute')) {
    const n = body.rateLimitPerMinute;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_RATE) {
      return { ok: false, error: `rateLimitPerMinute must be an integer from 1 to ${MAX_RATE}` };
    }
    out.rateLimitPerMinute = n;
  }
  if (has('metadata') || mode === 'create') {
    const m = body.metadata ?? {};
    if (!isObject(m) || JSON.stringify(m).length > MAX_METADATA_BYTES) {
      return { ok: false, error: `metadata must be a JSON object of at most ${MAX_METADATA_BYTES} bytes` };
    }
    out.metadata = m;
  }
  return { ok: true, value: out };
}
