/**
 * The embedded PDS and PLC directory that `npm start` runs (`SKEIN_ATPROTO_SERVICE=local`)
 * listen on loopback only unless configured otherwise (issue 28): dev-env binds them to every
 * interface, which put a PDS with a known account on the network of whoever tried Skein out.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';

let relay: RelayProcess | null = null;
afterAll(async () => {
  await relay?.stop();
});

/** Local addresses of the sockets listening on TCP `port` (IPv4 and IPv6), from /proc/net. */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A: LISTEN
      const [addr, hexPort] = local.split(':');
      if (parseInt(hexPort!, 16) !== port) continue;
      out.push(addr!.length === 8 ? ipv4(addr!) : addr === '0'.repeat(32) ? '::' : addr!);
    }
  }
  return out;
}

/** /proc/net/tcp writes an IPv4 address as one little-endian hex word. */
const ipv4 = (hex: string) => [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');

/** 'open' or the error code of a TCP connection to host:port. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('open');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

// Booting the AT service takes 30-45 s on a loaded 2-core machine (see local-pds.test.ts).
describe('embedded PDS and PLC', { timeout: 180_000 }, () => {
  it('listen on 127.0.0.1 only by default', async () => {
    relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    const started = await relay.waitForLog((l) => l.event === 'local_pds_started', 60_000);
    const ports = { pds: Number(new URL(started.pdsUrl as string).port), plc: Number(new URL(started.plcUrl as string).port) };
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    for (const [name, port] of Object.entries(ports)) {
      expect(listeners(port), `${name} on ${port}`).toEqual(['127.0.0.1']);
      expect(await tryConnect('127.0.0.1', port), name).toBe('open');
      // From another address of this machine, as another host on its network would.
      if (outside) expect(await tryConnect(outside, port), `${name} via ${outside}`).toBe('ECONNREFUSED');
    }
    // Still a working PDS for the relay.
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
  });
});
