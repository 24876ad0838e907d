#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * CLI entry: `npm start`. Dev auth is on by default here, off when SKEIN_DEV_AUTH=0; the AT
 * bridge defaults to `local` (in-process PDS), off when SKEIN_ATPROTO_SERVICE=off.
 *
 * Node runs it with `--max-semi-space-size=4` (`npm start`, this file's shebang): V8's young
 * generation otherwise grows to 2 × 16 MiB under load, resident for good, while the relay's
 * short-lived garbage (decoded updates, frames) dies well within 4 MiB: peak RSS 6 MiB lower
 * than at 8 with the same CPU per delivery; 2 saves 3 more at +5 % CPU (BENCHMARKS.md).
 */
import { ConfigError, loadConfig } from './config/config.ts';
import { startRelay } from './relay.ts';

// `npm start` mirrors to an in-process reference PDS unless told otherwise (SKEIN_ATPROTO_SERVICE).
const env = {
  ...process.env,
  SKEIN_DEV_AUTH: process.env.SKEIN_DEV_AUTH ?? '1',
  // A bot member that answers with streamed replies, so streaming shows right away.
  SKEIN_DEMO_BOT: process.env.SKEIN_DEMO_BOT ?? process.env.SKEIN_DEV_AUTH ?? '1',
  SKEIN_ATPROTO_SERVICE: process.env.SKEIN_ATPROTO_SERVICE || 'local',
};

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
    for (const p of err.problems) console.error(`skein: configuration error: ${p.variable}: ${p.problem}`);
    process.exit(2);
  }
  throw err;
}
