/**
 * `npm start`'s prestart (tools/prestart.ts): a build is skipped only while its sources are
 * unchanged. The relay's bundle it builds is tested in build-relay.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildIfStale, type Target } from '../../tools/prestart.ts';

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
