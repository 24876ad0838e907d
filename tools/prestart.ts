/**
 * `npm start`'s prestart: builds the web app (`client/dist`) and the relay's bundle
 * (`dist/relay`, tools/build-relay.ts) only when their sources changed since the last build, so
 * a warm `npm start` goes straight to the relay and a cold one takes about a second.
 *
 * esbuild does not check types: `npm run typecheck` does, and `npm run build:lib` (prepack)
 * emits the library's `.js` and `.d.ts` files with tsc.
 *
 * CLI: `node --import tsx tools/prestart.ts`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a build records the fingerprint of the sources it was built from. */
export interface Target {
  /** Shown in the log line. */
  name: string;
  /** Files and folders whose contents decide the output (folders are walked). */
  inputs: string[];
  /** Files that must exist for the output to count as built. */
  outputs: string[];
  /** The stamp file: the inputs' fingerprint at the last successful build. */
  stamp: string;
}

const SKIP = new Set(['node_modules', 'dist', '.git']);

/**
 * A fingerprint of `paths`: a hash of every file's path, size and mtime under them. A changed,
 * added, removed or renamed file changes it, and so does a `git checkout` (it writes files).
 * Folders' own mtimes are left out: creating an output folder inside an input (client/dist)
 * must not make the next start rebuild.
 */
export function fingerprint(paths: string[]): string {
  const hash = createHash('sha256');
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return; // a missing input is simply not part of the fingerprint
    }
    if (!st.isDirectory()) {
      hash.update(`${p}\0${st.size}\0${st.mtimeMs}\n`);
      return;
    }
    for (const name of readdirSync(p).sort()) if (!SKIP.has(name)) walk(join(p, name));
  };
  for (const p of paths) walk(p);
  return hash.digest('hex');
}

/** True when every output exists and the inputs have the fingerprint the stamp recorded. */
export function isFresh(t: Target): boolean {
  if (!t.outputs.every((o) => existsSync(o)) || !existsSync(t.stamp)) return false;
  return readFileSync(t.stamp, 'utf8').trim() === fingerprint(t.inputs);
}

/**
 * Runs `buildIt` unless `t` is fresh; records the fingerprint taken *before* the build, so
 * an edit made while it runs is picked up next time. Returns whether it built.
 */
export async function buildIfStale(t: Target, buildIt: () => Promise<void>): Promise<boolean> {
  if (isFresh(t)) return false;
  const print = fingerprint(t.inputs);
  await buildIt();
  mkdirSync(dirname(t.stamp), { recursive: true });
  writeFileSync(t.stamp, print + '\n');
  return true;
}

/** The two things `npm start` needs, for the checkout at `root`. */
export function targets(root: string): { app: Target; relay: Target } {
  const common = ['package.json', 'package-lock.json', 'tsconfig.json', 'tools/prestart.ts', 'tools/build-relay.ts'].map((f) => join(root, f));
  return {
    app: {
      name: 'web app',
      inputs: [join(root, 'client'), join(root, 'shared'), ...common],
      outputs: ['index.html', 'app.js', 'app.css', 'sw.js'].map((f) => join(root, 'client/dist', f)),
      stamp: join(root, 'client/dist/.build-stamp'),
    },
    relay: {
      name: 'relay',
      inputs: [join(root, 'server'), join(root, 'shared'), ...common],
      outputs: ['main.js', 'backlog-worker.js'].map((f) => join(root, 'dist/relay', f)),
      stamp: join(root, 'dist/.start-stamp'),
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { app, relay } = targets(root);
  const { buildApp } = await import('../client/app/build.ts');
  const { buildRelayBundle } = await import('./build-relay.ts');
  const report = async (t: Target, run: () => Promise<void>) => {
    const t0 = performance.now();
    const built = await buildIfStale(t, run);
    const ms = Math.round(performance.now() - t0);
    console.log(built ? `skein: built the ${t.name} in ${ms} ms` : `skein: the ${t.name} is up to date (${relative(root, t.stamp)})`);
  };
  await report(app, async () => void (await buildApp(join(root, 'client/dist'))));
  await report(relay, () => buildRelayBundle(root));
}
