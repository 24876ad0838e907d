/**
 * The standalone relay: createRelay (create-relay.ts) on its own Node HTTP server, with the
 * data directory locked. `startRelay` is what `npm start` and the tests run.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { ConfigError, type RelayConfig } from './config/config.ts';
import type { AppEnv, RelayContext } from './context.ts';
import { type CreateRelayOptions, createRelay } from './create-relay.ts';
import { type DataDirLock, lockDataDir } from './ops/data-dir-lock.ts';
import { DEMO_BOT_ID, DemoBot } from './demo-bot/demo-bot.ts';

export interface RunningRelay {
  url: string;
  port: number;
  ctx: RelayContext;
  close(): Promise<void>;
}

/** Listens on the configured port; a port in use is a configuration error, not a crash. */
function listen(app: Hono<AppEnv>, config: RelayConfig): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError('PORT', `port ${config.port} on ${config.host} is already in use; stop what runs there or set PORT`));
      else if (err.code === 'EACCES') reject(new ConfigError('PORT', `not allowed to listen on port ${config.port} on ${config.host}`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new ConfigError('HOST', `${config.host} is not an address of this machine`));
      else reject(err);
    });
  });
}

/** Hooks (authenticate, isMember, onEvent…) for the standalone relay; its config comes first. */
export type StandaloneHooks = Omit<CreateRelayOptions, 'config' | 'store'>;

export async function startRelay(config: RelayConfig, hooks: StandaloneHooks = {}): Promise<RunningRelay> {
  // Before anything touches the data directory (the embedded PDS wipes its files).
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLocked(config, lock, hooks);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startLocked(config: RelayConfig, lock: DataDirLock, hooks: StandaloneHooks): Promise<RunningRelay> {
  const relay = await createRelay({ ...hooks, config });
  const { ctx } = relay;
  let server: ServerType;
  try {
    server = await listen(relay.app, ctx.config);
  } catch (err) {
    await relay.close();
    throw err;
  }
  relay.injectWebSocket(server);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  if (config.devAuth) {
    ctx.log.warn({ event: 'dev_auth_enabled' }, 'DEV AUTH IS ON: anyone can mint a token at POST /v1/dev/token. Set SKEIN_DEV_AUTH=0 in production.');
  }
  ctx.log.info({ event: 'listening', url, port, dataDir: config.dataDir, storage: config.databaseUrl ? 'postgres' : 'sqlite' }, `Skein relay listening on ${url}`);
  const bot = config.demoBot && config.jwtSecret ? await startDemoBot(ctx, url) : null;

  return {
    url,
    port,
    ctx,
    async close() {
      bot?.stop();
      ctx.draining = true;
      // Stop accepting, then drain: sockets closed with 4500, in-flight HTTP requests finish.
      const closed = new Promise<void>((r) => server.close(() => r()));
      const force = setTimeout(() => (server as { closeAllConnections?: () => void }).closeAllConnections?.(), 3000);
      await relay.close({ drained: closed });
      clearTimeout(force);
      lock.release();
    },
  };
}

/** The demo bot, connected to this relay over loopback like any client. */
async function startDemoBot(ctx: RelayContext, url: string): Promise<DemoBot> {
  const loopback = url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//127.0.0.1');
  const bot = new DemoBot({ url: loopback, token: await ctx.auth.issue(DEMO_BOT_ID, 365 * 24 * 3600), store: ctx.store, userEvents: ctx.userEvents, log: ctx.log });
  await bot.start();
  return bot;
}
