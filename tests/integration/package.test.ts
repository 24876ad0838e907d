/**
 * Skein as a dependency: `npm pack`'s tarball, unpacked into a scratch project, type-checks a
 * consumer of every entry point (skein/client, skein/react, skein/server, skein/shared),
 * imports them at run time, and its `skein-relay` bin starts the compiled relay serving the
 * app. The scratch project sits under the repo so its dependencies resolve from the repo's
 * node_modules (no registry install in the test).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
let scratch: string;
let pkg: string;

beforeAll(() => {
  mkdirSync(join(ROOT, '.pack-test'), { recursive: true });
  scratch = mkdtempSync(join(ROOT, '.pack-test', 'consumer-'));
  // What prepack runs (the app, and tsc → dist with .d.ts and source maps), then the pack
  // itself without scripts so its --json output is alone on stdout.
  execFileSync('npm', ['run', 'prepack', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const file = (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename;
  pkg = join(scratch, 'node_modules', 'skein');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', join(scratch, file), '-C', pkg, '--strip-components=1']);
}, 240_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds compiled JS with types and source maps, the lexicons and the built app; no TypeScript sources', () => {
    const files = execFileSync('find', ['.', '-type', 'f'], { cwd: pkg, encoding: 'utf8' }).split('\n');
    for (const f of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/index.js.map', 'dist/server/index.d.ts', 'dist/server/main.js', 'dist/shared/lexicons/dev.skein.chat.message.json', 'client/dist/index.html', 'client/dist/app.js']) {
      expect(files).toContain(`./${f}`);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.some((f) => f.startsWith('./tests/'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    expect(manifest.bin['skein-relay']).toBe('dist/server/main.js');
  });

  it('type-checks a consumer of skein/client, skein/react, skein/server and skein/shared', () => {
    writeFileSync(
      join(scratch, 'consumer.ts'),
      `import { createSkeinClient, type SkeinClient, type ViewMessage } from 'skein/client';
import { useThread } from 'skein/react';
import { createRelay, type CreateRelayOptions, type RelayEvent } from 'skein/server';
import { parseRemoteAuthorId, type Thread } from 'skein/shared';

export async function relay(): Promise<void> {
  const opts: CreateRelayOptions = {
    config: { devAuth: true },
    authenticate: async ({ token }) => (token === 'ok' ? 'alice' : null),
    onEvent: (e: RelayEvent) => void e.type,
  };
  const r = await createRelay(opts);
  r.app.get('/hello', (c) => c.text('hi'));
  await r.close();
}

export async function client(): Promise<string[]> {
  const c: SkeinClient = await createSkeinClient({ relayUrl: 'http://127.0.0.1:8787', userId: 'alice', getToken: () => 'token' });
  const view = c.openThread('t1');
  const origins = view.messages.map((m: ViewMessage) => m.origin?.did ?? parseRemoteAuthorId(m.authorId)?.did ?? 'local');
  const t: Thread | undefined = undefined;
  void t;
  void useThread;
  return origins;
}
`,
    );
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, lib: ['ES2022', 'DOM'], types: ['node'] },
        files: ['consumer.ts'],
      }),
    );
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch, encoding: 'utf8' });
    } catch (err) {
      throw new Error(`consumer did not type-check:\n${(err as { stdout?: string }).stdout}`);
    }
  });

  it('imports at run time and its skein-relay bin serves the relay with the app', async () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const s = await import('skein/server'); const sh = await import('skein/shared'); console.log(typeof s.createRelay, typeof sh.remoteAuthorId)"],
      { cwd: scratch, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('function function');

    const dataDir = mkdtempSync(join(scratch, 'data-'));
    const proc = spawn(process.execPath, [join(pkg, 'dist/server/main.js')], {
      cwd: scratch,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SKEIN_DATA_DIR: dataDir, SKEIN_ATPROTO_SERVICE: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let buf = '';
        const t = setTimeout(() => reject(new Error(`no listening line: ${buf}`)), 30_000);
        proc.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /"event":"listening".*?"port":(\d+)/.exec(buf);
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${buf}`)));
      });
      const caps = await (await fetch(`http://127.0.0.1:${port}/v1/capabilities`)).json();
      expect(caps.protocol).toBe('y-websocket');
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
