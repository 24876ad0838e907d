/**
 * Faults of a two-instance deployment on PostgreSQL + Redis (issue #13), each caused for one
 * instance only through a TCP proxy the test controls (the shared services stay up for
 * everything else): PostgreSQL or Redis unreachable (writes refused with 4503, recovery by
 * itself, nothing accepted lost), a roll the instance did not hear of (its stale write is
 * refused by the store and it seals), and an instance SIGKILLed mid-burst behind a load
 * balancer (its clients move to the other; every seq survives, nothing doubled).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { eventually } from '../helpers/eventually.ts';
import { PG_URL, postgresSchemas } from '../helpers/postgres.ts';
import { REDIS_URL } from '../helpers/redis.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { UNLIMITED, allHaveAll, expectGapFree, scaleOutEnv, splitThread, startInstances } from '../helpers/scale-out.ts';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.ts';
import { type TestClient, canonicalOrder, connectClient, synced } from '../helpers/y-client.ts';

const pg = postgresSchemas();

/** `url` with its port replaced by the proxy's. */
function via(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.port = String(proxy.port);
  return u.toString();
}
const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback);

let relays: RelayProcess[] = [];
let proxies: TcpProxy[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  relays = [];
  proxies = [];
});

/**
 * Before each test (hook time, not test time: relays take seconds to start): a proxy to port
 * `proxied` when given, and two instances; the second with `second` settings (`proxyUrl`
 * rewrites a URL to go through the proxy).
 */
function setUp(extra: Record<string, string>, proxied: number | null, second: (proxyUrl: (url: string) => string) => Record<string, string> = () => ({})) {
  beforeEach(async () => {
    const proxy = proxied === null ? null : await startTcpProxy(proxied);
    if (proxy) proxies.push(proxy);
    relays = await startInstances(scaleOutEnv(pg.freshSchema(), extra), [{}, second((u) => via(u, proxy!))]);
  });
}

/** Ids and seqs the store holds for the thread (HTTP API of `relay`). */
async function stored(relay: RelayProcess, token: string, threadId: string): Promise<Array<{ id: string; seq: number }>> {
  const r = await relay.api<{ messages: Array<{ id: string; seq: number }> }>('GET', `/v1/threads/${threadId}/messages?limit=1000`, token);
  expect(r.status).toBe(200);
  return r.body.messages.map((m) => ({ id: m.id, seq: m.seq }));
}

const health = (relay: RelayProcess) => relay.api<{ postgres?: string; redis?: string }>('GET', '/v1/health').then((r) => r.body);

describe.each([
  ['PostgreSQL', 'postgres', () => PG_URL, 5432, 'SKEIN_DATABASE_URL'],
  ['Redis', 'redis', () => REDIS_URL, 6379, 'SKEIN_REDIS_URL'],
] as const)('an instance that loses %s', (_name, service, url, defaultPort, setting) => {
  // Instance 1 reaches the service through the proxy; instance 0 directly.
  setUp(UNLIMITED, portOf(url(), defaultPort), (proxied) => ({ [setting]: proxied(url()) }));

  it('refuses writes with 4503 while it is down, recovers by itself, and loses nothing it accepted', async () => {
    const [one, two] = relays as [RelayProcess, RelayProcess];
    const proxy = proxies[0]!;
    const { id, cs, tokens } = await splitThread(relays, clients, ['alice', 'bob']);
    const [alice, bob] = cs as [TestClient, TestClient];
    const sent = [alice.send('before a').id, bob.send('before b').id];
    await allHaveAll(relays, cs, sent);
    expect(await health(two)).toMatchObject({ [service]: 'up' });

    proxy.cut();
    await eventually(() => health(two), (h) => h[service] === 'down', `${service} down on instance 1`);
    const refused = bob.nextClose();
    sent.push(bob.send('during the outage').id);
    expect((await refused).code).toBe(CloseCode.BACKEND_UNAVAILABLE);
    // Its reconnects are refused too while the service is down; the other instance takes writes.
    expect((await bob.nextClose()).code).toBe(CloseCode.BACKEND_UNAVAILABLE);
    sent.push(alice.send('on the other instance meanwhile').id);
    await alice.until(() => alice.roots.canon.has(sent.at(-1)!), 'alice\'s message sequenced');

    proxy.restore();
    await allHaveAll(relays, cs, sent);
    expectGapFree(cs, sent.length);
    for (const c of cs) expect(c.roots.messages.length).toBe(sent.length);
    expect((await stored(one, tokens[0]!, id)).map((m) => m.id).sort()).toEqual([...sent].sort());
    expect(await health(two)).toMatchObject({ [service]: 'up' });
    await two.waitForLog((l) => l.event === 'backend_down' && l.service === service);
  });
});

describe('a roll on one instance while the other does not hear of it', () => {
  setUp({ SKEIN_GENERATION_MESSAGES: '5', SKEIN_ROLL_MIN_INTERVAL_MS: '0' }, portOf(REDIS_URL, 6379), (proxied) => ({ SKEIN_REDIS_URL: proxied(REDIS_URL) }));

  it('refuses the stale instance\'s commit in the store; it seals (4410 naming the live document) and writes nothing', async () => {
    const [one, two] = relays as [RelayProcess, RelayProcess];
    const proxy = proxies[0]!;
    const [ta, tb] = await Promise.all([one.token('alice'), one.token('bob')]);
    const { id } = await one.createThread(ta, ['bob']);
    const bob = connectClient(one.wsUrl, id, tb, 'bob');
    const alice = connectClient(two.wsUrl, id, ta, 'alice');
    clients.push(alice, bob);
    await Promise.all([synced(alice), synced(bob)]);
    // Instance 1's Redis connections stay up but carry nothing: the seal does not reach it.
    proxy.stall();
    const bobSealed = bob.nextClose(20_000);
    for (let i = 0; i < 5; i++) bob.send(`g0 ${i}`);
    expect((await bobSealed).code).toBe(CloseCode.GENERATION_SEALED);
    const aliceSealed = alice.nextClose(20_000);
    const late = alice.send('written to the sealed generation');
    const close = await aliceSealed;
    expect(close).toEqual({ code: CloseCode.GENERATION_SEALED, reason: `generation_rolled ${id}~1` });
    // The log line may trail the close on the relay's stdout pipe: await it.
    await two.waitForLog((l) => l.event === 'write_refused_sealed' && l.threadId === id);
    proxy.resume();
    // Not stored: no seq, and the live generation's document does not have it.
    expect((await stored(one, ta, id)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    const live = connectClient(two.wsUrl, `${id}~1`, ta, 'alice');
    clients.push(live);
    await synced(live);
    expect(live.roots.messages.toArray().map((m) => m.id)).not.toContain(late.id);
    expect(live.roots.meta.get('generation')).toBe(1);
  });
});

describe('an instance SIGKILLed mid-burst', () => {
  setUp(UNLIMITED, null);

  it('its clients reconnect to the other (through the load balancer); every seq survives, nothing doubled, seqs 1..N', async () => {
    const [one, two] = relays as [RelayProcess, RelayProcess];
    // A load balancer in front of instance 1: after the kill it sends reconnects to instance 0.
    const lb = await startTcpProxy(two.port);
    proxies.push(lb);
    const lbUrl = `ws://127.0.0.1:${lb.port}/v1/sync`;
    const users = ['alice', 'bob', 'carol', 'dave'];
    const tokens = await Promise.all(users.map((u) => one.token(u)));
    const { id } = await one.createThread(tokens[0]!, users.slice(1));
    const cs = users.map((u, i) => connectClient(i % 2 ? lbUrl : one.wsUrl, id, tokens[i]!, u));
    clients.push(...cs);
    await Promise.all(cs.map((c) => synced(c)));

    const sent: string[] = [];
    let seenAtKill: Array<{ id: string; seq: number }> = [];
    for (let round = 0; round < 40; round++) {
      for (const c of cs) for (let k = 0; k < 2; k++) sent.push(c.send(`burst ${round} ${k}`).id);
      if (round === 15) {
        // Whatever any client has seen sequenced by now must keep its seq.
        seenAtKill = cs.flatMap((c) => canonicalOrder(c));
        lb.retarget(one.port);
        await two.stop('SIGKILL');
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await allHaveAll(relays, cs, sent);
    expectGapFree(cs, sent.length);
    for (const c of cs) expect(c.roots.messages.length).toBe(sent.length);
    const seqOf = new Map(canonicalOrder(cs[0]!).map((m) => [m.id, m.seq]));
    expect(seenAtKill.length).toBeGreaterThan(0);
    for (const m of seenAtKill) expect(seqOf.get(m.id)).toBe(m.seq);
    const rows = await stored(one, tokens[0]!, id);
    expect(rows.map((m) => m.seq)).toEqual(Array.from({ length: sent.length }, (_, i) => i + 1));
    expect(new Set(rows.map((m) => m.id))).toEqual(new Set(sent));
    // The killed instance's clients did move.
    for (const c of [cs[1]!, cs[3]!]) expect(c.closes.length).toBeGreaterThan(0);
  });
});
