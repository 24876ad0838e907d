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
  /** New messages per second per connection (token bucket refill rate). */
  messagesPerSecond: number;
  /** Messages a connection may send at once before the per-second rate applies. */
  messageBurst: number;
  /** Update frames per second per connection (burst: twice as many). */
  updatesPerSecond: number;
  /** Open sync connections per user, across all threads. */
  connectionsPerUser: number;
  /** Largest awareness update, bytes. */
  maxAwarenessBytes: number;
  /** Awareness updates per second per connection (burst: twice as many). */
  awarenessPerSecond: number;
  /** Outgoing bytes queued for one peer above which it is dropped as too slow. */
  maxBufferedBytes: number;
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
    limits: {
      maxFrameBytes: int(env, 'SKEIN_MAX_FRAME_BYTES', 1_048_576, 1024, 64 * 1_048_576),
      maxTextLength: int(env, 'SKEIN_MAX_TEXT_LENGTH', 10_000, 1, 1_000_000),
      messagesPerSecond: int(env, 'SKEIN_MAX_MESSAGES_PER_SECOND', 20, 1, 1_000_000),
      messageBurst: int(env, 'SKEIN_MESSAGE_BURST', 100, 1, 1_000_000),
      updatesPerSecond: int(env, 'SKEIN_MAX_UPDATES_PER_SECOND', 100, 1, 1_000_000),
      connectionsPerUser: int(env, 'SKEIN_MAX_CONNECTIONS_PER_USER', 64, 1, 100_000),
      maxAwarenessBytes: int(env, 'SKEIN_MAX_AWARENESS_BYTES', 4096, 64, 1_048_576),
      awarenessPerSecond: int(env, 'SKEIN_MAX_AWARENESS_PER_SECOND', 10, 1, 100_000),
      maxBufferedBytes: int(env, 'SKEIN_MAX_BUFFERED_BYTES', 8 * 1_048_576, 16_384, 1_073_741_824),
    },
  };
}
