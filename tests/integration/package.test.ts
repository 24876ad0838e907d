/**
 * Skein as a dependency: `npm pack`'s tarball, unpacked into a scratch project, type-checks a
 * consumer of every entry point (skein/client, skein/react, skein/server, skein/shared),
 * imports them at run time, and its `skein-relay` bin starts the compiled relay serving the
 * app. The scratch project sits outside the repo and holds what `npm install skein` would
 * give a consumer: the package's own dependencies (the repo's non-dev packages, per
 * package-lock.json, linked in) plus the consumer's typescript, @types/node and react. A
 * type a public .d.ts needs from a dev dependency of ours then fails here as it would there.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
/** What a consumer installs beside skein for the checks below. */
const CONSUMER_OWN = new Set(['typescript', '@types/node', 'react', '@types/react']);
/** Module resolution from the links' own paths, so nothing resolves from the repo's node_modules. */
const NODE_FLAGS = ['--preserve-symlinks', '--preserve-symlinks-main'];
let scratch: string;
let pkg: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'skein-consumer-'));
  linkConsumerDependencies(scratch);
  // What prepack runs (the app, and tsc → dist with .d.ts and source maps), then the pack
  // itself without scripts so its --json output is alone on stdout.
  execFileSync('npm', ['run', 'prepack', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const file = (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename;
  pkg = join(scratch, 'node_modules', 'skein');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', join(scratch, file), '-C', pkg, '--strip-components=1']);
}, 240_000);

/**
 * Links into `dir/node_modules` every top-level package of the repo's install that is not
 * dev-only (package-lock.json's `dev` flag): skein's dependency tree as npm would install it
 * for a consumer. Nested node_modules come along inside their package.
 */
function linkConsumerDependencies(dir: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [path, info] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || path.includes('/node_modules/', 'node_modules/'.length)) continue;
    const name = path.slice('node_modules/'.length);
    if (info.dev && !CONSUMER_OWN.has(name)) continue;
    const target = join(dir, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(ROOT, path), target, 'dir');
  }
}

/** The README's embedding example, as a consumer would paste it (with a session map and a port to test on). */
function readmeEmbedding(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embedding the relay'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  expect(code).toContain('port: 3000');
  return `const sessions = new Map<string, string>();\n${code.replace('port: 3000', 'port: Number(process.env.EMBED_PORT)')}`;
}

/** GETs `url` as JSON once the server answers (it is starting); fails with the process output after 30 s, or once `exited`. */
async function eventuallyJson(url: string, output: () => string, exited?: Promise<void>): Promise<{ protocol?: string }> {
  const until = Date.now() + 30_000;
  let gone = false;
  void exited?.then(() => (gone = true));
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return (await res.json()) as { protocol?: string };
    } catch {
      // not listening yet
    }
    if (gone || Date.now() > until) throw new Error(`no answer from ${url}${gone ? ' (the process exited)' : ''}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds compiled JS with types and source maps, the lexicons and the built app; no TypeScript sources', () => {
    const files = execFileSync('find', ['.', '-type', 'f'], { cwd: pkg, encoding: 'utf8' }).split('\n');
    for (const f of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/index.js.map', 'dist/server/index.d.ts', 'dist/relay/main.js', 'dist/relay/backlog-worker.js', 'dist/shared/lexicons/dev.skein.chat.message.json', 'client/dist/index.html', 'client/dist/app.js']) {
      expect(files).toContain(`./${f}`);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.some((f) => f.startsWith('./tests/'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    expect(manifest.bin['skein-relay']).toBe('dist/relay/main.js');
  });

  it('type-checks a consumer of skein/client, skein/react, skein/server and skein/shared, and the README embedding example', () => {
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(scratch, 'embed.ts'), readmeEmbedding());
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
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, preserveSymlinks: true, lib: ['ES2022', 'DOM'], types: ['node'] },
        files: ['consumer.ts', 'embed.ts'],
      }),
    );
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch, encoding: 'utf8' });
    } catch (err) {
      throw new Error(`consumer did not type-check:\n${(err as { stdout?: string }).stdout}`);
    }
  });

  it('runs the README embedding example', async () => {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', scratch, '--noEmit', 'false', '--outDir', join(scratch, 'out')], { cwd: scratch, encoding: 'utf8' });
    // The example listens on a fixed port. Other tests listen on port 0, which the kernel takes
    // from its ephemeral range (32768–60999 here), as it does for outgoing connections: a port
    // below that range is free of both, and one taken anyway is tried again with another.
    for (let attempt = 1; ; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      const proc = spawn(process.execPath, [...NODE_FLAGS, join(scratch, 'out', 'embed.js')], {
        cwd: scratch,
        env: { ...process.env, EMBED_PORT: String(port), SKEIN_ATPROTO_SERVICE: 'off' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      try {
        const caps = await eventuallyJson(`http://127.0.0.1:${port}/chat/v1/capabilities`, () => output, exited);
        expect(caps.protocol).toBe('y-websocket');
        expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('my app');
        return;
      } catch (err) {
        if (!output.includes('EADDRINUSE') || attempt === 3) throw err;
      } finally {
        proc.kill('SIGTERM');
      }
    }
  });

  it('imports at run time and its skein-relay bin serves the relay with the app', async () => {
    const out = execFileSync(
      process.execPath,
      [...NODE_FLAGS, '--input-type=module', '-e', "const s = await import('skein/server'); const sh = await import('skein/shared'); console.log(typeof s.createRelay, typeof sh.remoteAuthorId)"],
      { cwd: scratch, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('function function');

    const dataDir = mkdtempSync(join(scratch, 'data-'));
    const proc = spawn(process.execPath, [...NODE_FLAGS, join(pkg, 'dist/relay/main.js')], {
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
