/**
 * Production auth by an identity provider's JWKS (issue 16.3): RS256/ES256/EdDSA keys,
 * iss/aud checks, key rotation mid-run, and tokens never in the logs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { type JwksServer, type TestKey, makeKey, signToken, startJwksServer } from '../helpers/jwks-server.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const ISS = 'https://idp.test/';
const AUD = 'skein-test';

let idp: JwksServer;
let relay: RelayProcess;
let rsa: TestKey, ec: TestKey, ed: TestKey, rs384: TestKey;
/** Every token this file sends, to look for in the relay's logs. */
const sent: string[] = [];

async function token(key: TestKey, sub: string, claims: Parameters<typeof signToken>[2] = {}) {
  const t = await signToken(key, sub, { iss: ISS, aud: AUD, ...claims });
  sent.push(t);
  return t;
}
const status = async (t: string) => (await relay.api('GET', '/v1/threads', t)).status;
async function wsClose(threadId: string, t: string) {
  const p = rawPeer(relay.wsUrl, threadId, t);
  return (await p.closed).code;
}

beforeAll(async () => {
  [rsa, ec, ed, rs384] = await Promise.all([
    makeKey('rsa-1', 'RS256'),
    makeKey('ec-2', 'ES256'),
    makeKey('ed-3', 'EdDSA'),
    makeKey('rsa-384', 'RS384'),
  ]);
  idp = await startJwksServer([rsa, rs384]);
  relay = new RelayProcess(mkdtempSync(join(tmpdir(), 'skein-jwks-')), {
    SKEIN_DEV_AUTH: '0',
    SKEIN_JWT_JWKS_URL: idp.url,
    SKEIN_JWT_ISSUER: ISS,
    SKEIN_JWT_AUDIENCE: AUD,
    // An unknown kid refetches at once (production default: at most every 30 s).
    SKEIN_JWT_JWKS_COOLDOWN_MS: '0',
  });
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await idp?.close();
});

describe('JWKS auth', () => {
  it('accepts a provider token on HTTP and WebSocket and refuses wrong iss, aud and alg', async () => {
    const alice = await token(rsa, 'alice');
    expect(await status(alice)).toBe(200);
    const { id } = await relay.createThread(alice, ['bob']);
    const c = connectClient(relay.wsUrl, id, alice, 'alice');
    await synced(c);
    c.destroy();

    const wrongIss = await token(rsa, 'alice', { iss: 'https://evil.test/' });
    const wrongAud = await token(rsa, 'alice', { aud: 'someone-else' });
    // A published RSA key, an algorithm outside the allow-list.
    const wrongAlg = await token(rs384, 'alice');
    const expired = await token(rsa, 'alice', { expSeconds: -60 });
    for (const t of [wrongIss, wrongAud, wrongAlg, expired]) {
      expect(await status(t)).toBe(401);
      expect(await wsClose(id, t)).toBe(CloseCode.UNAUTHENTICATED);
    }
    // No shared secret is configured: an HS256 token is refused whatever it is signed with.
    const { SignJWT } = await import('jose');
    const hs = await new SignJWT({ iss: ISS, aud: AUD }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(32)));
    sent.push(hs);
    expect(await status(hs)).toBe(401);
    expect(await wsClose(id, hs)).toBe(CloseCode.UNAUTHENTICATED);
  });

  it('follows key rotation: a new kid refetches the key set, a retired key stops working', async () => {
    const oldToken = await token(rsa, 'alice');
    expect(await status(oldToken)).toBe(200);
    const before = idp.fetches;
    idp.rotate([ec, ed]);
    const ecToken = await token(ec, 'alice');
    const edToken = await token(ed, 'bob');
    expect(await status(ecToken)).toBe(200);
    expect(idp.fetches).toBeGreaterThan(before);
    expect(await status(edToken)).toBe(200);
    const { id } = await relay.createThread(ecToken, ['bob']);
    const bob = connectClient(relay.wsUrl, id, edToken, 'bob');
    await synced(bob);
    bob.destroy();
    // The retired RSA key is gone from the refetched set.
    expect(await status(oldToken)).toBe(401);
    expect(await wsClose(id, oldToken)).toBe(CloseCode.UNAUTHENTICATED);
    // A second rotation back in.
    idp.rotate([ec, rsa]);
    expect(await status(await token(rsa, 'carol'))).toBe(200);
  });

  it('a client that leaves while its upgrade waits on a slow key fetch is refused, and nothing is kept for it', async () => {
    const metric = async () => Number(/^skein_ws_upgrades_abandoned_total (\d+)$/m.exec(await (await fetch(`${relay.url}/metrics`)).text())?.[1]);
    expect(await metric()).toBe(0);
    const late = await makeKey('late-1', 'ES256');
    idp.rotate([ec, rsa, late]);
    const release = idp.hold();
    const fetchesBefore = idp.fetches;
    // A raw upgrade request with a token whose kid the relay must fetch first.
    const t = await token(late, 'dave');
    const { port } = new URL(relay.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `GET /v1/sync/some-thread?token=${t} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    // The relay is waiting for the key set: the client gives up.
    await expect.poll(() => idp.fetches, { timeout: 10_000 }).toBeGreaterThan(fetchesBefore);
    socket.destroy();
    // A request on another connection is answered after the relay has read the first one's close.
    expect((await fetch(`${relay.url}/v1/health`)).status).toBeLessThan(500);
    release();
    await expect.poll(metric, { timeout: 10_000 }).toBe(1);
    // The next upgrade with that key goes through.
    const { id } = await relay.createThread(t, []);
    const dave = connectClient(relay.wsUrl, id, t, 'dave');
    await synced(dave);
    dave.destroy();
    expect(await metric()).toBe(1);
  });

  it('never writes a token to the log, at debug level', async () => {
    expect(relay.rawLog.length).toBeGreaterThan(0);
    expect(relay.logs.some((l) => l.event === 'ws_refused')).toBe(true);
    for (const t of sent) {
      const [, payload, sig] = t.split('.');
      for (const line of relay.rawLog) {
        expect(line).not.toContain(t);
        expect(line).not.toContain(sig!);
        expect(line).not.toContain(payload!);
      }
    }
  });
});
