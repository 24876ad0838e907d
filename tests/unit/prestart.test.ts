/**
 * `npm start`'s prestart (tools/prestart.ts): a build is skipped only while its sources are
 * unchanged, and the relay transpiled by esbuild runs with tsc's layout (`.ts` imports as `.js`).
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildIfStale, buildRelay, type Target } from '../../tools/prestart.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'skein-prestart-'));
  dirs.push(d);
  return d;
}

/** A target whose "build" writes its output and counts how often it ran. */
function fixture() {
  const root = tmp();
  mkdirSync(join(root, 'src/sub'), { recursive: true });
  writeFileSync(join(root, 'src/a.ts'), 'a');
  writeFileSync(join(root, 'src/sub/b.ts'), 'b');
  const t: Target = { name: 'x', inputs: [join(root, 'src')], outputs: [join(root, 'src/dist/out.js')], stamp: join(root, 'src/dist/.stamp') };
  let builds = 0;
  const run = () =>
    buildIfStale(t, async () => {
      builds++;
      mkdirSync(join(root, 'src/dist'), { recursive: true }); // an output folder inside an input
      writeFileSync(t.outputs[0]!, '');
    });
  return { root, t, run, builds: () => builds };
}

describe('prestart freshness', () => {
  it('builds once, then skips while nothing changed (an output folder inside the inputs does not count)', async () => {
    const f = fixture();
    expect(await f.run()).toBe(true);
    expect(await f.run()).toBe(false);
    expect(await f.run()).toBe(false);
    expect(f.builds()).toBe(1);
  });

  it('rebuilds after a file is edited, added, removed or renamed', async () => {
    const f = fixture();
    await f.run();
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(f.root, 'src/a.ts'), later, later);
    expect(await f.run()).toBe(true);
    writeFileSync(join(f.root, 'src/sub/c.ts'), 'c');
    expect(await f.run()).toBe(true);
    rmSync(join(f.root, 'src/sub/c.ts'));
    expect(await f.run()).toBe(true);
    const { renameSync } = await import('node:fs');
    renameSync(join(f.root, 'src/sub/b.ts'), join(f.root, 'src/sub/b2.ts'));
    expect(await f.run()).toBe(true);
    expect(await f.run()).toBe(false);
    expect(f.builds()).toBe(5);
  });

  it('rebuilds when an output is missing even if the sources are unchanged', async () => {
    const f = fixture();
    await f.run();
    rmSync(f.t.outputs[0]!);
    expect(await f.run()).toBe(true);
  });

  it('does not record a build that failed', async () => {
    const f = fixture();
    await expect(buildIfStale(f.t, async () => Promise.reject(new Error('syntax error')))).rejects.toThrow('syntax error');
    expect(await f.run()).toBe(true);
  });
});

describe('prestart relay build', () => {
  it('emits tsc’s layout with relative .ts imports rewritten to .js, so Node runs it', async () => {
    const root = tmp();
    mkdirSync(join(root, 'server/sub'), { recursive: true });
    mkdirSync(join(root, 'shared/lexicons'), { recursive: true });
    writeFileSync(join(root, 'shared/lexicons/x.json'), '{"id":"x"}');
    writeFileSync(join(root, 'shared/value.ts'), 'export const value: number = 41;\n');
    writeFileSync(join(root, 'server/sub/plus.ts'), 'export const plus = (n: number): number => n + 1;\n');
    writeFileSync(
      join(root, 'server/main.ts'),
      [
        "import { readFileSync } from 'node:fs';",
        "import { value } from '../shared/value.ts';",
        "import { plus } from './sub/plus.ts';",
        "import type { Foo } from './sub/plus.ts';",
        'export const answer = plus(value);',
        "export const lexicon = JSON.parse(readFileSync(new URL('../shared/lexicons/x.json', import.meta.url), 'utf8')).id;",
        "export const later = async () => (await import('./sub/plus.ts')).plus(1);",
      ].join('\n'),
    );
    await buildRelay(root);
    const mod = await import(pathToFileURL(join(root, 'dist/server/main.js')).href);
    expect(mod.answer).toBe(42);
    expect(mod.lexicon).toBe('x');
    expect(await mod.later()).toBe(2);
  });
});
