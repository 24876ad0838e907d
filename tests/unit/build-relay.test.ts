/**
 * The relay's bundle (tools/build-relay.ts), what `npm start` and the `skein-relay` bin run:
 * built from a small stand-in of the source tree, it must keep what the relay relies on at run
 * time — files found from `import.meta.url`, the backlog worker beside `main.js`, lazy imports
 * as chunks of their own, CommonJS packages that `require` Node's built-ins — and a rebuild
 * must drop chunks it no longer has. The real relay's bundle is started in relay-bundle.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { buildRelayBundle } from '../../tools/build-relay.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function write(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

it('bundles main and the backlog worker; paths from import.meta.url, lazy chunks and CommonJS requires work', async () => {
  const root = mkdtempSync(join(tmpdir(), 'skein-bundle-'));
  dirs.push(root);
  write(root, {
    'shared/lexicons/x.json': '{"id":"x"}',
    'shared/value.ts': 'export const value: number = 41;\n',
    'node_modules/cjs-dep/package.json': '{"name":"cjs-dep","main":"index.js"}',
    'node_modules/cjs-dep/index.js': "module.exports = require('node:path').posix.sep;\n",
    'server/sub/plus.ts': 'export const plus = (n: number): number => n + 1;\n',
    'server/lazy/later.ts': "export const later = 'loaded later';\n",
    'server/at/lexicon.ts': "import { readFileSync } from 'node:fs';\nexport const lexicon = (): string => JSON.parse(readFileSync(new URL('../../shared/lexicons/x.json', import.meta.url), 'utf8')).id;\n",
    'server/room/backlog-worker.ts': "import { parentPort } from 'node:worker_threads';\nimport { plus } from '../sub/plus.ts';\nparentPort!.on('message', (n: number) => parentPort!.postMessage(plus(n)));\n",
    'server/room/offload.ts': [
      "import { Worker } from 'node:worker_threads';",
      'export const inWorker = (n: number): Promise<number> => new Promise((resolve, reject) => {',
      "  const w = new Worker(new URL('./backlog-worker.js', import.meta.url));",
      "  w.once('message', (m: number) => { void w.terminate(); resolve(m); });",
      "  w.once('error', reject);",
      '  w.postMessage(n);',
      '});',
    ].join('\n'),
    'server/main.ts': [
      '#!/usr/bin/env node',
      "import sep from 'cjs-dep';",
      "import { value } from '../shared/value.ts';",
      "import { plus } from './sub/plus.ts';",
      "export { lexicon } from './at/lexicon.ts';",
      "export { inWorker } from './room/offload.ts';",
      'export const answer = plus(value);',
      'export const separator: string = sep;',
      "export const later = async (): Promise<string> => (await import('./lazy/later.ts')).later;",
    ].join('\n'),
  });
  const out = join(root, 'dist/relay');
  write(root, { 'dist/relay/chunk-STALE.js': '' });
  await buildRelayBundle(root);

  const files = readdirSync(out);
  expect(files).toContain('main.js');
  expect(files).toContain('backlog-worker.js');
  expect(files.some((f) => f.startsWith('later-') && f.endsWith('.js'))).toBe(true);
  expect(existsSync(join(out, 'chunk-STALE.js'))).toBe(false);
  expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);

  // In a Node process of its own, as `npm start` runs it (vitest's loader would lend the
  // bundle a `require` it does not have under Node).
  write(root, {
    'run.mjs': `const m = await import(${JSON.stringify(pathToFileURL(join(out, 'main.js')).href)});
      console.log(JSON.stringify({ answer: m.answer, separator: m.separator, lexicon: m.lexicon(), later: await m.later(), inWorker: await m.inWorker(1) }));`,
  });
  const got = JSON.parse(execFileSync(process.execPath, [join(root, 'run.mjs')], { encoding: 'utf8' }));
  expect(got).toEqual({ answer: 42, separator: '/', lexicon: 'x', later: 'loaded later', inWorker: 2 });
});
