/** CLI entry: `npm start`. Dev auth is on by default here, off when SKEIN_DEV_AUTH=0. */
import { ConfigError, loadConfig } from './config.ts';
import { startRelay } from './relay.ts';

const env = { ...process.env, SKEIN_DEV_AUTH: process.env.SKEIN_DEV_AUTH ?? '1' };

try {
  const relay = await startRelay(loadConfig(env));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    relay.ctx.log.info({ event: 'shutdown', signal }, 'shutting down');
    await relay.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`skein: configuration error: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
