/**
 * The relay as `npm start` and the `skein-relay` bin run it: `dist/relay/`, one esbuild bundle
 * of `server/main.ts` and the libraries it imports, split into chunks so that what the relay
 * loads lazily (the AT bridge and ingest, PostgreSQL, Redis) stays unloaded until asked for.
 *
 * Why a bundle: Node's ESM loader keeps a module record, its source and its compiled code per
 * file, and the relay loaded ~330 files at start (hono, jose, prom-client, ws, lib0 each come as
 * dozens). The same code as a few chunks starts at ~69 instead of ~79 MiB RSS, the largest
 * part of the relay's memory gap to Hocuspocus at rest (BENCHMARKS.md, issue 29). It is not
 * minified (stack traces keep their names; minifying saves ~1 MiB more).
 *
 * Packages that stay outside the bundle, loaded from node_modules as before: native addons
 * (better-sqlite3, pg's optional native binding), pino (its transports start workers by file
 * path), and `@atproto/*` (large, loaded only with the AT bridge on). Paths the relay computes
 * from `import.meta.url` keep working because `dist/relay/` sits two levels below the package
 * root like `server/at/` does (the lexicons, `../../shared/lexicons`), and the backlog worker
 * is an entry of its own beside `main.js` (backlog-offload.ts loads `./backlog-worker.js`).
 *
 * Files are written by rename, so a relay starting while the bundle is rebuilt (a test run
 * packing the package) reads a whole file; chunk names carry their content's hash, and chunks
 * the new build no longer has are removed.
 *
 * CLI: `node --import tsx tools/build-relay.ts [outdir]`.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Packages loaded from node_modules at run time rather than bundled (see above). */
export const EXTERNAL = ['better-sqlite3', 'pg', 'pg-native', 'pino', 'pino-*', 'thread-stream', '@atproto/*', 'bufferutil', 'utf-8-validate'];

/** Bundles `root/server/main.ts` (and the backlog worker) into `outdir` (default `root/dist/relay`). */
export async function buildRelayBundle(root: string, outdir = join(root, 'dist/relay')): Promise<void> {
  // Loaded here, not at the top: a warm `npm start` (nothing to build) does not pay for it.
  const { build } = await import('esbuild');
  const result = await build({
    absWorkingDir: root,
    entryPoints: { main: join(root, 'server/main.ts'), 'backlog-worker': join(root, 'server/room/backlog-worker.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS packages in the bundle (ws, prom-client) call `require` for Node's built-ins.
    banner: { js: "import { createRequire as __skeinRequire } from 'node:module'; const require = __skeinRequire(import.meta.url);" },
    sourcemap: 'linked',
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(outdir, { recursive: true });
  const written = new Set<string>();
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(tmp, file.contents, { mode: basename(file.path) === 'main.js' ? 0o755 : 0o644 });
    renameSync(tmp, file.path);
    written.add(basename(file.path));
  }
  for (const name of readdirSync(outdir)) if (!written.has(name) && !name.endsWith('.tmp')) rmSync(join(outdir, name), { force: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  await buildRelayBundle(root, process.argv[2] ? resolve(process.argv[2]) : undefined);
}
