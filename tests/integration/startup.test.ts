/**
 * Starting a relay where it cannot run: the data directory is in use by another relay, or
 * the port is taken. Each refusal is one clear line and exit code 2, and the relay that was
 * already running keeps working (issue 9.6).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CanonInfo } from '../../shared/schema.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
});

/** Runs `npm start`'s entry to its exit; returns the exit code and everything it printed. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', SKEIN_DEV_AUTH: '1', SKEIN_ATPROTO_SERVICE: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    }),
  );
}

describe('startup refusals', () => {
  it('a second relay on the same data directory exits at once and leaves the first one (and its local PDS) working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-lock-'));
    const first = new RelayProcess(dir, { SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(first);
    await first.start();
    await first.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
    const pdsFiles = readdirSync(join(dir, 'local-pds', 'data')).sort();

    const second = await runToExit({ PORT: '0', SKEIN_DATA_DIR: dir, SKEIN_ATPROTO_SERVICE: 'local' });
    expect(second.code).toBe(2);
    expect(second.output).toContain('SKEIN_DATA_DIR');
    expect(second.output).toContain(`in use by another running relay (pid ${first.proc!.pid})`);
    expect(second.output).not.toMatch(/^\s+at /m); // no stack trace
    expect(readdirSync(join(dir, 'local-pds', 'data')).sort()).toEqual(pdsFiles);

    // The first relay still mirrors to its PDS.
    const alice = await first.token('alice');
    const { id } = await first.createThread(alice, [], 'still mirrored', { mirror: true });
    const a = connectClient(first.wsUrl, id, alice, 'alice');
    clients.push(a);
    await synced(a);
    const m = a.send('after the second start');
    await a.until(() => (a.roots.canon.get(m.id) as CanonInfo | undefined)?.state === 'confirmed', 'mirrored', 30_000);
  });

  it('a lock left by a relay that was killed does not block the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-lock-'));
    const relay = new RelayProcess(dir, {});
    relays.push(relay);
    await relay.start();
    await relay.stop('SIGKILL');
    await relay.start();
    expect((await relay.api('GET', '/v1/health')).status).toBe(200);
  });

  it('a port in use is a configuration error with one clear line, not a stack trace', async () => {
    const running = new RelayProcess(mkdtempSync(join(tmpdir(), 'skein-port-')), {});
    relays.push(running);
    await running.start();
    const taken = await runToExit({ PORT: String(running.port), SKEIN_DATA_DIR: mkdtempSync(join(tmpdir(), 'skein-port-')) });
    expect(taken.code).toBe(2);
    expect(taken.output).toContain(`skein: configuration error: PORT: port ${running.port} on 127.0.0.1 is already in use`);
    expect(taken.output).not.toMatch(/^\s+at /m);
    expect((await running.api('GET', '/v1/health')).status).toBe(200);
  });
});
