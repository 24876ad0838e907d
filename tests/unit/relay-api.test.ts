/**
 * The SDK's HTTP client of the relay against a real HTTP server on loopback that accepts
 * requests and never answers (a hung relay): the request fails with TIMEOUT instead of
 * waiting for good, and a relay that is gone fails with UNREACHABLE.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayApi } from '../../client/link/relay-api.ts';

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function silentRelay(): Promise<string> {
  const server = createServer(() => {
    /* accepts the request, never answers */
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('relay API client', () => {
  it('a request the relay never answers fails with TIMEOUT after the timeout', async () => {
    const api = new RelayApi(await silentRelay(), () => 'token', undefined, 300);
    const started = Date.now();
    await expect(api.messagesBefore('t', 100, 10)).rejects.toMatchObject({ code: 'TIMEOUT', status: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('a relay that is not there fails with UNREACHABLE', async () => {
    const url = await silentRelay();
    const s = servers.pop()!;
    await new Promise((r) => s.close(r));
    await expect(new RelayApi(url, () => 'token', undefined, 5000).listThreads()).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });
});
