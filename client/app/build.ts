/**
 * Builds the chat web app (client/app) into a static directory the relay serves at `/`.
 * esbuild, not Vite: it is already the project's bundler (tests, benchmarks), builds this
 * app in well under a second, and so can run on every `npm start` / `npm test` without a
 * dev server or a second toolchain.
 *
 * CLI: `node --import tsx client/app/build.ts [outDir]` (default `client/dist`).
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/**
 * Bundles one browser entry point (TypeScript, ESM) into `outfile`. The web app and the
 * SDK test page are built the same way.
 */
export async function bundleForBrowser(entry: string, outfile: string, opts: { minify?: boolean } = {}): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: opts.minify ?? false,
    sourcemap: opts.minify ? 'linked' : false,
    outfile,
    logLevel: 'warning',
  });
}

/** The files of the app shell, relative to where the app is served. */
const SHELL = ['./', './app.js', './app.css'];

/**
 * Writes `sw.js` into a built app: the service worker with the shell's version, a hash of
 * the shell files' content, so that any change to them installs a new cache.
 */
export async function writeServiceWorker(outDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const f of ['index.html', 'app.js', 'app.css']) hash.update(readFileSync(join(outDir, f)));
  const version = hash.digest('hex').slice(0, 16);
  await build({
    entryPoints: [join(HERE, 'sw.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    outfile: join(outDir, 'sw.js'),
    define: {
      __SKEIN_SHELL_VERSION__: JSON.stringify(version),
      __SKEIN_SHELL_FILES__: JSON.stringify(SHELL),
    },
    logLevel: 'warning',
  });
  return version;
}

/**
 * Bundles the app into `outDir` (index.html, app.js, app.css, and sw.js, the service worker
 * that caches them under a version derived from their content); returns `outDir`.
 */
export async function buildApp(outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  await bundleForBrowser(join(HERE, 'main.ts'), join(outDir, 'app.js'), { minify: true });
  copyFileSync(join(HERE, 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(HERE, 'style.css'), join(outDir, 'app.css'));
  await writeServiceWorker(outDir);
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? 'client/dist');
  const t0 = performance.now();
  await buildApp(out);
  console.log(`skein: built the web app into ${out} in ${Math.round(performance.now() - t0)} ms`);
}
