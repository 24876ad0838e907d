/**
 * Where the browser tests' Chromium is, and getting one on a fresh machine. Used by the
 * vitest globalSetup of the browser project (tests/setup/chromium.global.ts) and by
 * launchChromium, so every browser test runs the binary this found.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
/** The command .ci/run uses too; Debian's package installs DEFAULT_CHROMIUM. */
export const APT_INSTALL = 'apt-get update -qq && apt-get install -y -qq chromium';

/** Thrown with one line that names what is missing and the command that installs it. */
export class ChromiumMissing extends Error {
  constructor(line: string) {
    super(line);
    this.name = 'ChromiumMissing';
    // The message is the whole report: no stack trace under it.
    this.stack = line;
  }
}

export interface ChromiumOptions {
  env?: NodeJS.ProcessEnv;
  /** Where Debian's package puts it; a parameter so the "nothing there" path can be tested here. */
  defaultPath?: string;
  /** Progress for a human watching `npm test` (the install takes a minute). */
  log?: (line: string) => void;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, command)));
}

/** The Chromium to use without installing anything: CHROMIUM_PATH when set, else the default path. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env, defaultPath = DEFAULT_CHROMIUM): string {
  return env.CHROMIUM_PATH || defaultPath;
}

/**
 * Returns a runnable Chromium. An explicit CHROMIUM_PATH is never second-guessed (no
 * install when it points nowhere: the user chose that binary). Without it, Debian's
 * package is installed when this process may (root, apt-get on the PATH).
 */
export function ensureChromium(opts: ChromiumOptions = {}): string {
  const env = opts.env ?? process.env;
  const defaultPath = opts.defaultPath ?? DEFAULT_CHROMIUM;
  const log = opts.log ?? (() => {});
  if (env.CHROMIUM_PATH) {
    if (isExecutable(env.CHROMIUM_PATH)) return env.CHROMIUM_PATH;
    throw new ChromiumMissing(
      `browser tests: CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file; point it at a Chromium, or unset it and install Debian's: sudo ${APT_INSTALL}`,
    );
  }
  if (isExecutable(defaultPath)) return defaultPath;
  const root = process.getuid?.() === 0;
  if (!onPath('apt-get', env)) {
    throw new ChromiumMissing(
      `browser tests: no Chromium at ${defaultPath} and no apt-get to install one; install Chromium and run with CHROMIUM_PATH=/path/to/chromium npm test`,
    );
  }
  if (!root) {
    throw new ChromiumMissing(`browser tests: no Chromium at ${defaultPath}; install it with: sudo ${APT_INSTALL} (or set CHROMIUM_PATH)`);
  }
  log(`browser tests: no Chromium at ${defaultPath}; installing Debian's (${APT_INSTALL})`);
  const r = spawnSync('sh', ['-c', APT_INSTALL], {
    env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status === 0 && isExecutable(defaultPath)) return defaultPath;
  const why = r.status === 0 ? `it did not create ${defaultPath}` : `exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`;
  throw new ChromiumMissing(`browser tests: installing Chromium failed (${why}); run: ${APT_INSTALL} (or set CHROMIUM_PATH)`);
}
