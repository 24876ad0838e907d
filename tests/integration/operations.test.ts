/**
 * Operations conventions (issue 16.5), on real relay processes: liveness and readiness
 * probes, graceful shutdown on SIGTERM (connections drained, outbox claims released), and
 * configuration errors that list every bad variable at once.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonInfo } from '../../shared/schema.ts';
import { CloseCode } from '../../shared/errors.ts';
import { AtNetwork } from '../helpers/at-network.ts';
import { PdsProxy } from '../helpers/pds-proxy.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
let net: AtNetwork;
let proxy: PdsProxy;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  net = await AtNetwork.start();
  proxy = new PdsProxy(net.url);
  await proxy.start();
});
afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
  await proxy?.close();
  await net?.close();
});

/** A gate a proxied call waits on until `open()`. */
function gate() {
  let open!: () => void;
  const p = new Promise<undefined>((r) => (open = () => r(undefined)));
  return { p, open };
}

describe('probes and graceful shutdown', () => {
  it('ready only once the bridge is in; SIGTERM drains sockets and releases outbox claims', async () => {
    const account = await net.createAccount('opsrelay');
    const login = gate();
    let holdWrites: ReturnType<typeof gate> | null = null;
    let writeArrived!: () => void;
    const writeSeen = new Promise<void>((r) => (writeArrived = r));
    proxy.onRequest = (path) => {
      if (path.startsWith('/xrpc/com.atproto.server.createSession')) return login.p;
      if (holdWrites && path.startsWith('/xrpc/com.atproto.repo.applyWrites')) {
        writeArrived();
        return holdWrites.p;
      }
      return undefined;
    };
    const relay: RelayProcess = await startRelay({
      SKEIN_ATPROTO_SERVICE: proxy.url,
      SKEIN_ATPROTO_IDENTIFIER: account.handle,
      SKEIN_ATPROTO_PASSWORD: account.password,
      SKEIN_BRIDGE_BACKOFF_BASE_MS: '100',
    });
    cleanups.push(() => relay.stop());

    expect((await relay.api('GET', '/v1/health')).status).toBe(200);
    const starting = await relay.api('GET', '/v1/ready');
    expect(starting.status).toBe(503);
    expect(starting.body).toEqual({ ready: false, checks: { store: 'open', bridge: 'starting', draining: false } });
    login.open();
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
    const ready = await relay.api('GET', '/v1/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ store: 'open', bridge: 'logged_in', draining: false });

    // A message whose AT write is in flight (the PDS does not answer) when SIGTERM comes.
    const alice = await relay.token('alice');
    const { id } = await relay.createThread(alice, [], 'ops', { mirror: true });
    // The thread record is written at creation: only the message's write is to be held.
    await relay.waitForLog((l) => l.event === 'bridge_thread_record_written' && l.threadId === id, 30_000);
    const a = connectClient(relay.wsUrl, id, alice, 'alice');
    cleanups.push(() => a.destroy());
    await synced(a);
    holdWrites = gate();
    const m = a.send('in flight at shutdown').id;
    await writeSeen;
    const closing = a.nextClose();
    const proc = relay.proc!;
    const from = relay.logs.length;
    await relay.stop('SIGTERM');
    expect(proc.exitCode).toBe(0);
    expect((await closing).code).toBe(CloseCode.GOING_AWAY);
    expect(relay.logs.slice(from).find((l) => l.event === 'bridge_claims_released')).toMatchObject({ count: 1 });

    // The next relay mirrors it at once, not after the claim lease (120 s by default) ran out.
    holdWrites.open();
    holdWrites = null;
    a.destroy();
    await relay.start();
    const b = connectClient(relay.wsUrl, id, alice, 'alice');
    cleanups.push(() => b.destroy());
    await b.until(() => (b.roots.canon.get(m) as CanonInfo | undefined)?.state === 'confirmed', 'confirmed after restart', 30_000);
  });

  it('answers ready with no bridge configured', async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    expect(await relay.api('GET', '/v1/ready')).toEqual({ status: 200, body: { ready: true, checks: { store: 'open', bridge: 'off', draining: false } } });
  });
});

describe('configuration errors', () => {
  it('lists every bad variable at once, one line each, exit code 2', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: 'eighty',
        SKEIN_DEV_AUTH: '0',
        SKEIN_JWT_SECRET: 'short',
        SKEIN_MAX_FRAME_BYTES: '-1',
        SKEIN_SQLITE_SYNC: 'sometimes',
        SKEIN_JWT_JWKS_URL: 'not a url',
        SKEIN_ATPROTO_SERVICE: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d));
    proc.stderr!.on('data', (d: Buffer) => (out += d));
    const code = await new Promise((r) => proc.once('exit', r));
    expect(code).toBe(2);
    const lines = out.trim().split('\n');
    for (const v of ['PORT', 'SKEIN_JWT_SECRET', 'SKEIN_MAX_FRAME_BYTES', 'SKEIN_SQLITE_SYNC', 'SKEIN_JWT_JWKS_URL']) {
      expect(lines.filter((l) => l.startsWith(`skein: configuration error: ${v}: `))).toHaveLength(1);
    }
    expect(lines).toHaveLength(5);
  });
});
