/**
 * Relay configuration from environment variables. Every variable is listed here with
 * its default; a bad value stops the relay with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface Limits {
  /** Largest WebSocket frame accepted, bytes. */
  maxFrameBytes: number;
  /** Longest message text, characters. */
  maxTextLength: number;
}

export interface RelayConfig {
  port: number;
  host: string;
  dataDir: string;
  jwtSecret: Uint8Array;
  devAuth: boolean;
  /** How long a document with no connections stays loaded, ms. */
  idleUnloadMs: number;
  /** Number of update-log rows per thread that triggers compaction. */
  compactAfterUpdates: number;
  /** Interval between WebSocket pings; a peer missing one pong is dropped. */
  pingIntervalMs: number;
  logLevel: string;
  /** SQLite `synchronous`: FULL fsyncs each commit, NORMAL survives process but not OS crashes. */
  sqliteSync: 'FULL' | 'NORMAL';
  limits: Limits;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(name, `expected 1/0/true/false, got ${JSON.stringify(raw)}`);
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = values.find((x) => x.toLowerCase() === raw.toLowerCase());
  if (!v) throw new ConfigError(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  return v;
}

/**
 * In dev mode without SKEIN_JWT_SECRET, a random secret is kept in the data dir so that
 * tokens survive restarts. Outside dev mode the secret must be given.
 */
function jwtSecret(env: Env, dataDir: string, devAuth: boolean): Uint8Array {
  const raw = env.SKEIN_JWT_SECRET;
  if (raw) {
    if (raw.length < 32) throw new ConfigError('SKEIN_JWT_SECRET', 'must be at least 32 characters');
    return new TextEncoder().encode(raw);
  }
  if (!devAuth) throw new ConfigError('SKEIN_JWT_SECRET', 'required unless SKEIN_DEV_AUTH=1');
  const file = join(dataDir, 'dev-jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}

/** Reads the configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env = process.env): RelayConfig {
  const dataDir = resolve(env.SKEIN_DATA_DIR || './data');
  mkdirSync(dataDir, { recursive: true });
  const devAuth = bool(env, 'SKEIN_DEV_AUTH', false);
  return {
    port: int(env, 'PORT', 8787, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir,
    devAuth,
    jwtSecret: jwtSecret(env, dataDir, devAuth),
    idleUnloadMs: int(env, 'SKEIN_IDLE_UNLOAD_MS', 30_000, 0, 86_400_000),
    compactAfterUpdates: int(env, 'SKEIN_COMPACT_AFTER_UPDATES', 500, 2, 1_000_000),
    pingIntervalMs: int(env, 'SKEIN_PING_INTERVAL_MS', 30_000, 100, 3_600_000),
    logLevel: env.SKEIN_LOG_LEVEL || 'info',
    sqliteSync: oneOf(env, 'SKEIN_SQLITE_SYNC', ['FULL', 'NORMAL'] as const, 'FULL'),
    limits: {
      maxFrameBytes: int(env, 'SKEIN_MAX_FRAME_BYTES', 1_048_576, 1024, 64 * 1_048_576),
      maxTextLength: int(env, 'SKEIN_MAX_TEXT_LENGTH', 10_000, 1, 1_000_000),
    },
  };
}
