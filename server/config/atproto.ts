/** Readers of the AT Protocol settings: the write bridge and ingest. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AtprotoConfig, IngestConfig } from './shape.ts';
import { type Env, bad, bool, int } from './env.ts';

/** AT ingest and its admin API (SKEIN_ADMIN_TOKEN, SKEIN_FEDERATION_SOURCES_FILE, SKEIN_PLC_URL, SKEIN_INGEST_*). */
export function ingest(env: Env): IngestConfig {
  const adminToken = env.SKEIN_ADMIN_TOKEN ?? '';
  if (adminToken && adminToken.length < 24) bad('SKEIN_ADMIN_TOKEN', 'must be at least 24 characters', null);
  const sourcesFile = env.SKEIN_FEDERATION_SOURCES_FILE?.trim() || null;
  if (sourcesFile && !existsSync(sourcesFile)) bad('SKEIN_FEDERATION_SOURCES_FILE', `no such file: ${sourcesFile}`, null);
  const plcUrl = (env.SKEIN_PLC_URL || 'https://plc.directory').trim().replace(/\/+$/, '');
  try {
    const u = new URL(plcUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') bad('SKEIN_PLC_URL', 'must be an http or https URL', null);
  } catch {
    bad('SKEIN_PLC_URL', `expected an http(s) URL, got ${JSON.stringify(plcUrl)}`, null);
  }
  return {
    adminToken: adminToken || null,
    sourcesFile: sourcesFile ? resolve(sourcesFile) : null,
    plcUrl,
    plcUrlSet: !!env.SKEIN_PLC_URL,
    commitLogRetentionDays: int(env, 'SKEIN_COMMIT_LOG_RETENTION_DAYS', 30, 1, 36_500),
    backoffBaseMs: int(env, 'SKEIN_INGEST_BACKOFF_BASE_MS', 1000, 1, 3_600_000),
    backoffMaxMs: int(env, 'SKEIN_INGEST_BACKOFF_MAX_MS', 60_000, 1, 86_400_000),
    lagThresholdMs: int(env, 'SKEIN_INGEST_LAG_THRESHOLD_MS', 30_000, 1, 86_400_000),
  };
}

/** The AT write bridge (SKEIN_ATPROTO_*, SKEIN_MIRROR_DEFAULT, SKEIN_BRIDGE_*). */
export function atproto(env: Env): AtprotoConfig {
  const service = (env.SKEIN_ATPROTO_SERVICE || 'off').trim();
  if (service !== 'off' && service !== 'local') {
    let url: URL | null = null;
    try {
      url = new URL(service);
    } catch {
      bad('SKEIN_ATPROTO_SERVICE', `expected off, local or an http(s) URL, got ${JSON.stringify(service)}`, null);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      bad('SKEIN_ATPROTO_SERVICE', 'the PDS URL must be http or https', null);
    }
    if (!env.SKEIN_ATPROTO_IDENTIFIER) bad('SKEIN_ATPROTO_IDENTIFIER', 'required when SKEIN_ATPROTO_SERVICE is a URL', null);
    if (!env.SKEIN_ATPROTO_PASSWORD) bad('SKEIN_ATPROTO_PASSWORD', 'required when SKEIN_ATPROTO_SERVICE is a URL', null);
  }
  const on = service !== 'off';
  // AT repositories are public: publishing is an explicit choice per thread unless the
  // operator opts the whole relay in.
  const mirrorDefault = bool(env, 'SKEIN_MIRROR_DEFAULT', false);
  if (mirrorDefault && !on) bad('SKEIN_MIRROR_DEFAULT', 'cannot be on while SKEIN_ATPROTO_SERVICE=off', null);
  return {
    service: service.replace(/\/+$/, ''),
    identifier: env.SKEIN_ATPROTO_IDENTIFIER ?? '',
    password: env.SKEIN_ATPROTO_PASSWORD ?? '',
    localPort: int(env, 'SKEIN_ATPROTO_LOCAL_PORT', 0, 0, 65535),
    localHost: env.SKEIN_ATPROTO_LOCAL_HOST?.trim() || '127.0.0.1',
    mirrorDefault,
    batchMaxWrites: int(env, 'SKEIN_BRIDGE_BATCH_MAX_WRITES', 200, 1, 200),
    batchMaxBytes: int(env, 'SKEIN_BRIDGE_BATCH_MAX_BYTES', 100_000, 1024, 10_000_000),
    writeCost: int(env, 'SKEIN_BRIDGE_WRITE_COST', 3, 1, 1000),
    backoffBaseMs: int(env, 'SKEIN_BRIDGE_BACKOFF_BASE_MS', 1000, 1, 3_600_000),
    backoffMaxMs: int(env, 'SKEIN_BRIDGE_BACKOFF_MAX_MS', 60_000, 1, 86_400_000),
    lagThresholdMs: int(env, 'SKEIN_BRIDGE_LAG_THRESHOLD_MS', 30_000, 1, 86_400_000),
    failingAfter: int(env, 'SKEIN_BRIDGE_FAILING_AFTER', 3, 1, 1000),
    diagnosticsTtlMs: int(env, 'SKEIN_BRIDGE_DIAGNOSTICS_TTL_MS', 7 * 86_400_000, 1000, 365 * 86_400_000),
    claimLeaseMs: int(env, 'SKEIN_BRIDGE_CLAIM_LEASE_MS', 120_000, 1000, 86_400_000),
    testCrashAfterAtWrite: env.SKEIN_TEST_CRASH_AFTER_AT_WRITE === '1',
  };
}
