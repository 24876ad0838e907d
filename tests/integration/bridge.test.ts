/**
 * AT write bridge against a real reference PDS (@atproto/dev-env, in this process) and
 * real relay processes. Each scenario uses its own relay account so record counts are exact.
 */
import { AtpAgent } from '@atproto/api';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { AtNetwork, type TestAccount } from '../helpers/at-network.ts';
import { PdsProxy } from '../helpers/pds-proxy.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

let net: AtNetwork;
const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
const proxies: PdsProxy[] = [];

beforeAll(async () => {
  net = await AtNetwork.start();
});
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await net?.close();
});

async function bridgedRelay(account: TestAccount, service = net.url, env: Record<string, string> = {}, dataDir?: string, waitForLogin = true) {
  const relay = await startRelay(
    {
      SKEIN_ATPROTO_SERVICE: service,
      SKEIN_ATPROTO_IDENTIFIER: account.handle,
      SKEIN_ATPROTO_PASSWORD: account.password,
      SKEIN_BRIDGE_BACKOFF_BASE_MS: '100',
      SKEIN_BRIDGE_BACKOFF_MAX_MS: '1000',
      ...env,
    },
    dataDir,
  );
  relays.push(relay);
  if (waitForLogin) await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
  return relay;
}

function client(relay: RelayProcess, threadId: string, user: string, token: string): TestClient {
  const c = connectClient(relay.wsUrl, threadId, token, user);
  clients.push(c);
  return c;
}

const canonOf = (c: TestClient, id: string) => c.roots.canon.get(id) as CanonInfo | undefined;
const allIn = (c: TestClient, ids: string[], state: CanonInfo['state']) => () => ids.every((id) => canonOf(c, id)?.state === state);

describe('AT write bridge configuration', () => {
  it('with the bridge off: capabilities say so, threads do not mirror, asking for mirroring is refused', async () => {
    const relay = await startRelay(); // tests default to SKEIN_ATPROTO_SERVICE=off
    relays.push(relay);
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.atproto).toMatchObject({ features: { write_bridge: false }, did: null, degraded: false });
    const alice = await relay.token('alice');
    expect((await relay.api('POST', '/v1/threads', alice, { title: 't' })).body.mirror).toBe(false);
    const refused = await relay.api('POST', '/v1/threads', alice, { title: 't', mirror: true });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('MIRROR_UNAVAILABLE');
  });

  it('a bridge still logging in is on (degraded: starting) and queues messages until it is in', async () => {
    const account = await net.createAccount('relaystart');
    const proxy = new PdsProxy(net.url);
    proxies.push(proxy);
    await proxy.start();
    let release!: () => void;
    const held = new Promise<undefined>((r) => (release = () => r(undefined)));
    proxy.onRequest = (path) => (path.startsWith('/xrpc/com.atproto.server.createSession') ? held : undefined);
    const relay = await bridgedRelay(account, proxy.url, {}, undefined, false);
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.atproto.features.write_bridge).toBe(true);
    expect(caps.atproto).toMatchObject({ degraded: true, reason: 'starting' });
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'starting', { mirror: true });
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const m = a.send('queued while the bridge logs in').id;
    await a.until(() => canonOf(a, m)?.state === 'sent', 'sequenced');
    release();
    await a.until(() => canonOf(a, m)?.state === 'confirmed', 'mirrored once logged in');
    expect((await relay.api('GET', '/v1/capabilities')).body.atproto).toMatchObject({ features: { write_bridge: true }, degraded: false });
  });

  it('`local` (the npm start default) runs its own PDS and mirrors with no other setup', async () => {
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(relay);
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.atproto.features.write_bridge).toBe(true);
    expect(caps.atproto.mirrorDefault).toBe(false);
    const alice = await relay.token('alice');
    // AT records are public: a thread mirrors only when its creator asks (SKEIN_MIRROR_DEFAULT=0).
    expect((await relay.api('POST', '/v1/threads', alice, { title: 'private by default' })).body.mirror).toBe(false);
    const thread = await relay.createThread(alice, [], 'local', { mirror: true });
    const a = client(relay, thread.id, 'alice', alice);
    await synced(a);
    const m = a.send('hello local PDS');
    await a.until(() => canonOf(a, m.id)?.state === 'confirmed', 'confirmed on the local PDS', 30_000);
    const got = await new AtpAgent({ service: caps.atproto.service }).com.atproto.repo.getRecord({
      repo: caps.atproto.did,
      collection: MESSAGE_NSID,
      rkey: m.id,
    });
    expect(got.data.uri).toBe(canonOf(a, m.id)!.atUri);
    expect((got.data.value as { text: string }).text).toBe('hello local PDS');
    await relay.stop();
  });

  it('refuses to start with a PDS URL but no credentials, naming the variable', async () => {
    await expect(startRelay({ SKEIN_ATPROTO_SERVICE: net.url })).rejects.toThrow(/SKEIN_ATPROTO_IDENTIFIER/);
  });
});

describe('AT write bridge', () => {
  it('a finished stream is mirrored once with its final text; an interrupted one is not mirrored', async () => {
    const account = await net.createAccount('relaystream');
    const relay = await bridgedRelay(account, net.url, { SKEIN_STREAM_IDLE_MS: '300' });
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'streams', { mirror: true });
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const entry = (text: string) => ({ authorId: 'alice', startedAt: 1, text, status: 'streaming' as const });
    const [done, cut] = [ulid(), ulid()];
    for (const t of ['Par', 'Partial ', 'Partial then final']) a.doc.transact(() => a.roots.streams.set(done, entry(t)));
    a.doc.transact(() => a.roots.streams.set(cut, entry('never finished')));
    a.doc.transact(() => {
      a.roots.messages.push([{ id: done, authorId: 'alice', text: 'Partial then final', clientSentAt: Date.now() }]);
      a.roots.streams.delete(done);
    });
    await a.until(() => canonOf(a, done)?.state === 'confirmed', 'finished stream mirrored');
    await a.until(() => a.roots.streams.get(cut)?.status === 'interrupted', 'the other interrupted by the relay');
    const records = await net.listRecords(account.did);
    expect(records.map((r) => [r.rkey, r.value.text])).toEqual([[done, 'Partial then final']]);
  });

  it('mirrors 100 messages of a mirrored thread as exactly 100 records, and nothing of a non-mirrored one', async () => {
    const account = await net.createAccount('relaya');
    const relay = await bridgedRelay(account);
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.atproto.features.write_bridge).toBe(true);
    expect(caps.atproto.did).toBe(account.did);
    expect(caps.atproto.service).toBe(net.url);
    expect(caps.atproto.degraded).toBe(false);
    expect(JSON.stringify(caps)).not.toContain(account.password);

    const alice = await relay.token('alice');
    const bob = await relay.token('bob');
    const plain = await relay.createThread(alice, ['bob'], 'not mirrored', { mirror: false });
    const p = client(relay, plain.id, 'alice', alice);
    await synced(p);
    const plainIds = Array.from({ length: 5 }, (_, i) => p.send(`plain ${i}`).id);
    await p.until(allIn(p, plainIds, 'sent'), 'plain messages sequenced');

    const mirrored = await relay.createThread(alice, ['bob'], 'mirrored', { mirror: true });
    expect((await relay.api('GET', `/v1/threads/${mirrored.id}`, alice)).body.mirror).toBe(true);
    const a = client(relay, mirrored.id, 'alice', alice);
    const b = client(relay, mirrored.id, 'bob', bob);
    await Promise.all([synced(a), synced(b)]);
    const sent = new Map<string, { text: string; author: string }>();
    for (let i = 0; i < 100; i++) {
      const c = i % 2 ? b : a;
      const m = c.send(`message ${i} from ${c.userId} ✓`);
      sent.set(m.id, { text: m.text, author: c.userId });
    }
    const ids = [...sent.keys()];
    await a.until(allIn(a, ids, 'confirmed'), '100 confirmed', 60_000);

    const records = await net.listRecords(account.did);
    expect(records).toHaveLength(100);
    const byKey = new Map(records.map((r) => [r.rkey, r]));
    for (const id of ids) {
      const r = byKey.get(id)!;
      const canon = canonOf(a, id)!;
      expect(r, `record for ${id}`).toBeDefined();
      expect(r.value.text).toBe(sent.get(id)!.text);
      expect(r.value.author).toBe(sent.get(id)!.author);
      expect(r.value.thread).toBe(mirrored.id);
      expect(r.value.seq).toBe(canon.seq);
      expect(r.value.sentAt).toBe(new Date(canon.sentAt).toISOString());
      expect(canon.atUri).toBe(`at://${account.did}/${MESSAGE_NSID}/${id}`);
      expect(canon.atUri).toBe(r.uri);
      expect(canon.atCid).toBe(r.cid);
    }
    // The non-mirrored thread stayed `sent` and left no trace in the repo.
    expect(plainIds.every((id) => canonOf(p, id)?.state === 'sent')).toBe(true);
    expect(records.some((r) => r.value.thread === plain.id)).toBe(false);
    const history = await relay.api('GET', `/v1/threads/${mirrored.id}/messages?limit=1000`, alice);
    expect(history.body.messages.every((m: { state: string; atUri?: string }) => m.state === 'confirmed' && m.atUri)).toBe(true);

    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/^skein_bridge_writes_total 100$/m);
    expect(metrics).toMatch(/^skein_bridge_queue_depth 0$/m);
    expect(relay.rawLog.join('\n')).not.toContain(account.password);
    expect(relay.rawLog.join('\n')).not.toContain('message 7 from');
  });

  it('after a SIGKILL between the PDS write and the canon update, a restart confirms without a second record', async () => {
    const account = await net.createAccount('relayb');
    const relay = await bridgedRelay(account, net.url, { SKEIN_TEST_CRASH_AFTER_AT_WRITE: '1' });
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'crash', { mirror: true });
    const exited = new Promise<NodeJS.Signals | null>((r) => relay.proc!.once('exit', (_c, sig) => r(sig)));
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const ids = [a.send('one').id, a.send('two').id, a.send('three').id];
    expect(await exited).toBe('SIGKILL');
    a.destroy();

    // The PDS has the record(s); the relay's store still says `sent` for them.
    const written = await net.listRecords(account.did);
    expect(written.length).toBeGreaterThan(0);
    const db = new Database(join(relay.dataDir, 'skein.sqlite'), { readonly: true });
    const states = db.prepare('SELECT id, state FROM messages WHERE thread_id = ?').all(threadId) as Array<{ id: string; state: string }>;
    const outbox = (db.prepare('SELECT count(*) AS n FROM at_outbox').get() as { n: number }).n;
    db.close();
    expect(states.filter((s) => written.some((w) => w.rkey === s.id)).every((s) => s.state === 'sent')).toBe(true);
    expect(outbox).toBe(states.length);

    const again = await bridgedRelay(account, net.url, {}, relay.dataDir);
    const a2 = client(again, threadId, 'alice', await again.token('alice'));
    await a2.until(allIn(a2, ids, 'confirmed'), 'all confirmed after restart', 30_000);
    const records = await net.listRecords(account.did);
    expect(records.map((r) => r.rkey).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(canonOf(a2, id)!.atCid).toBe(records.find((r) => r.rkey === id)!.cid);
    // The restarted relay resumed the persisted session (tokens only, never the password).
    const session = readFileSync(join(relay.dataDir, 'atproto-session.json'), 'utf8');
    expect(JSON.parse(session).session.did).toBe(account.did);
    expect(session).not.toContain(account.password);
    // The replayed create collided; the bridge found the existing records instead of failing.
    expect(again.logs.some((l) => l.event === 'bridge_reconciled')).toBe(true);
  });

  it('keeps messages `sent` and reports degraded while the PDS is down, then confirms all once it is back', async () => {
    const account = await net.createAccount('relayc');
    const relay = await bridgedRelay(account, net.url, { SKEIN_BRIDGE_LAG_THRESHOLD_MS: '1500', SKEIN_BRIDGE_FAILING_AFTER: '3' });
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'outage', { mirror: true });
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const before = a.send('before the outage').id;
    await a.until(allIn(a, [before], 'confirmed'), 'first confirmed');

    await net.stopPds();
    try {
      const ids = Array.from({ length: 10 }, (_, i) => a.send(`during outage ${i}`).id);
      await a.until(allIn(a, ids, 'sent'), 'sequenced while PDS is down');
      const caps = await vi.waitFor(
        async () => {
          const c = (await relay.api('GET', '/v1/capabilities')).body;
          if (!c.atproto.degraded) throw new Error('not degraded yet');
          return c;
        },
        { timeout: 30_000, interval: 200 },
      );
      expect(caps.atproto.reason).toMatch(/pds_failing|queue_lagging/);
      expect(ids.every((id) => canonOf(a, id)?.state === 'sent')).toBe(true);
      const metrics = await (await fetch(`${relay.url}/metrics`)).text();
      expect(metrics).toMatch(/^skein_bridge_queue_depth 10$/m);
      expect(Number(/^skein_bridge_oldest_pending_age_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      expect(metrics).toMatch(/^skein_bridge_failures_total\{class="network"\} [1-9]/m);

      await net.startPds();
      await a.until(allIn(a, ids, 'confirmed'), 'all confirmed after the PDS is back', 60_000);
      const records = await net.listRecords(account.did);
      expect(records.map((r) => r.rkey).sort()).toEqual([before, ...ids].sort());
      await vi.waitFor(
        async () => expect((await relay.api('GET', '/v1/capabilities')).body.atproto.degraded).toBe(false),
        { timeout: 10_000, interval: 200 },
      );
    } finally {
      if (!(await fetch(`${net.url}/xrpc/_health`).then(() => true, () => false))) await net.startPds();
    }
  });

  it('marks a permanently refused message `failed` with its code, and a retry after the fix confirms it', async () => {
    const account = await net.createAccount('relayd');
    const proxy = new PdsProxy(net.url);
    proxies.push(proxy);
    await proxy.start();
    let strict = true;
    proxy.onApplyWrites = ({ texts }) =>
      strict && texts.some((t) => t.includes('POISON'))
        ? { status: 400, body: { error: 'InvalidRequest', message: 'Invalid record: refused by this PDS' } }
        : texts.some((t) => t.startsWith('HUGE'))
          ? { status: 413, body: { error: 'PayloadTooLarge', message: 'request entity too large' } }
          : undefined;
    // The relay accepts texts longer than the lexicon allows, so one can fail the lexicon check.
    const relay = await bridgedRelay(account, proxy.url, { SKEIN_MAX_TEXT_LENGTH: '200000' });
    const alice = await relay.token('alice');
    const mallory = await relay.token('mallory');
    const { id: threadId } = await relay.createThread(alice, [], 'strict', { mirror: true });
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const good = a.send('fine').id;
    const bad = a.send('POISON pill').id;
    await a.until(() => canonOf(a, bad)?.state === 'failed' && canonOf(a, good)?.state === 'confirmed', 'bad failed, good confirmed');
    expect(canonOf(a, bad)!.error).toBe('AT_BAD_REQUEST');
    expect(canonOf(a, bad)!.atUri).toBeUndefined();

    const diag = await relay.api('GET', `/v1/threads/${threadId}/messages/${bad}/bridge`, alice);
    expect(diag.status).toBe(200);
    expect(diag.body.state).toBe('failed');
    expect(diag.body.diagnostics[0]).toMatchObject({ code: 'AT_BAD_REQUEST', failureClass: 'invalid' });
    expect(diag.body.diagnostics[0].expiresAt).toBeGreaterThan(Date.now());
    expect(JSON.stringify(diag.body)).not.toContain('POISON');

    expect((await relay.api('POST', `/v1/threads/${threadId}/messages/${bad}/retry`, mallory)).status).toBe(403);
    expect((await relay.api('POST', `/v1/threads/${threadId}/messages/${good}/retry`, alice)).status).toBe(409);
    expect((await relay.api('POST', `/v1/threads/${threadId}/messages/NOPE/retry`, alice)).status).toBe(404);

    strict = false; // the cause is fixed
    const retry = await relay.api('POST', `/v1/threads/${threadId}/messages/${bad}/retry`, alice);
    expect(retry.status).toBe(202);
    expect(retry.body.state).toBe('sent');
    await a.until(() => canonOf(a, bad)?.state === 'confirmed', 'retried message confirmed');
    expect(canonOf(a, bad)!.error).toBeUndefined();
    const records = await net.listRecords(account.did);
    expect(records.map((r) => r.rkey).sort()).toEqual([good, bad].sort());
    expect(records.find((r) => r.rkey === bad)!.value.text).toBe('POISON pill');

    // 413 on a batch splits it down to the one write, which alone fails; the rest go through.
    // A record the lexicon refuses is never sent at all.
    const callsBefore = proxy.calls.length;
    const ok1 = a.send('ok one').id;
    const huge = a.send('HUGE attachment').id;
    const ok2 = a.send('ok two').id;
    const tooLong = a.send('y'.repeat(100_001)).id;
    await a.until(
      () =>
        canonOf(a, huge)?.state === 'failed' &&
        canonOf(a, tooLong)?.state === 'failed' &&
        allIn(a, [ok1, ok2], 'confirmed')(),
      'split and lexicon failures settled',
    );
    expect(canonOf(a, huge)!.error).toBe('AT_PAYLOAD_TOO_LARGE');
    expect(canonOf(a, tooLong)!.error).toBe('INVALID_RECORD');
    expect(proxy.calls.slice(callsBefore).some((c) => c.texts.some((t) => t.startsWith('yyyy')))).toBe(false);
    const after = (await net.listRecords(account.did)).map((r) => r.rkey).sort();
    expect(after).toEqual([good, bad, ok1, ok2].sort());
  });

  it('a 401 even after logging in again fails nothing: the messages wait (degraded, not_logged_in) and go out once login works', async () => {
    const account = await net.createAccount('relayf');
    const proxy = new PdsProxy(net.url);
    proxies.push(proxy);
    await proxy.start();
    let authBroken = false;
    proxy.onRequest = (path) =>
      authBroken && path.startsWith('/xrpc/com.atproto.')
        ? { status: 401, body: { error: 'AuthenticationRequired', message: 'Invalid identifier or password' } }
        : undefined;
    const relay = await bridgedRelay(account, proxy.url);
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'auth', { mirror: true });
    // The thread record is written at creation: let that finish before auth breaks.
    await relay.waitForLog((l) => l.event === 'bridge_thread_record_written' && l.threadId === threadId, 30_000);
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    authBroken = true; // e.g. the app password was revoked
    const from = relay.logs.length;
    const ids = [a.send('while auth is broken 1').id, a.send('while auth is broken 2').id];
    // The bridge tried (applyWrites 401, the login again 401) and put the writes back.
    await relay.waitForLog((l) => l.event === 'bridge_auth_failed', 30_000, from);
    // …and keeps trying to log in, not to fail them.
    await relay.waitForLog((l) => l.event === 'bridge_login_failed' && l.status === 401, 30_000, from);
    expect(ids.map((id) => canonOf(a, id)?.state)).toEqual(['sent', 'sent']);
    expect(relay.logs.slice(from).some((l) => l.event === 'bridge_write_failed')).toBe(false);
    const caps = (await relay.api('GET', '/v1/capabilities')).body;
    expect(caps.atproto.features.write_bridge).toBe(false);
    expect(caps.atproto).toMatchObject({ degraded: true, reason: 'not_logged_in', queueDepth: 2 });

    authBroken = false; // a new app password is in place
    // No retry by hand: they were never sent, so they simply go out.
    await a.until(allIn(a, ids, 'confirmed'), 'confirmed once login works', 30_000);
    expect((await net.listRecords(account.did)).map((r) => r.rkey).sort()).toEqual([...ids].sort());
    await vi.waitFor(
      async () => expect((await relay.api('GET', '/v1/capabilities')).body.atproto).toMatchObject({ degraded: false, features: { write_bridge: true } }),
      { timeout: 10_000, interval: 200 },
    );
    expect(relay.rawLog.join('\n')).not.toContain(account.password);
  });

  it('a PDS that lets the relay log in but answers its writes 401 fails nothing either; the writes go out once it takes them', async () => {
    const account = await net.createAccount('relayg');
    const proxy = new PdsProxy(net.url);
    proxies.push(proxy);
    await proxy.start();
    let refuse = false;
    proxy.onApplyWrites = () => (refuse ? { status: 401, body: { error: 'AuthenticationRequired', message: 'Token could not be verified' } } : undefined);
    const relay = await bridgedRelay(account, proxy.url);
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'auth after re-login', { mirror: true });
    await relay.waitForLog((l) => l.event === 'bridge_thread_record_written' && l.threadId === threadId, 30_000);
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    refuse = true;
    const from = relay.logs.length;
    const m = a.send('refused after a fresh login').id;
    // Refused, logged in again (the client does so on a 401), refused again: put back, twice.
    await relay.waitForLog((l) => l.event === 'bridge_auth_failed', 30_000, from);
    const second = relay.logs.findIndex((l, i) => i >= from && l.event === 'bridge_auth_failed') + 1;
    await relay.waitForLog((l) => l.event === 'bridge_auth_failed', 30_000, second);
    expect(canonOf(a, m)?.state).toBe('sent');
    expect(relay.logs.slice(from).some((l) => l.event === 'bridge_write_failed')).toBe(false);
    refuse = false;
    await a.until(() => canonOf(a, m)?.state === 'confirmed', 'confirmed once the PDS takes writes', 30_000);
    expect((await net.listRecords(account.did)).map((r) => r.rkey)).toEqual([m]);
  });

  it('on 429 waits for the announced reset and never sends a batch over the remaining budget', async () => {
    const account = await net.createAccount('relaye');
    const proxy = new PdsProxy(net.url);
    proxies.push(proxy);
    await proxy.start();
    // A fixed-window limiter like the PDS's: 30 points per 2 s window, 3 points per create;
    // an over-budget call is refused with 429 and drains the window.
    const LIMIT = 30;
    const windowEnd = (t: number) => (Math.floor(t / 2000) + 1) * 2000;
    let window = 0;
    let remaining = LIMIT;
    const refusals: Array<{ at: number; resetAt: number }> = [];
    const budgetAtCall: number[] = [];
    const headers = (now: number) => ({
      'RateLimit-Limit': String(LIMIT),
      'RateLimit-Remaining': String(remaining),
      'RateLimit-Reset': String(windowEnd(now) / 1000),
      'RateLimit-Policy': `${LIMIT};w=2`,
    });
    proxy.onApplyWrites = ({ writes }) => {
      const now = Date.now();
      if (windowEnd(now) !== window) {
        // The budget of the window the first call lands in is already spent (other clients).
        remaining = window === 0 ? 0 : LIMIT;
        window = windowEnd(now);
      }
      budgetAtCall.push(remaining);
      const cost = writes * 3;
      if (cost > remaining) {
        remaining = 0;
        refusals.push({ at: now, resetAt: window });
        return { status: 429, headers: headers(now), body: { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' } };
      }
      remaining -= cost;
      return undefined;
    };
    proxy.extraHeaders = () => headers(Date.now());

    const relay = await bridgedRelay(account, proxy.url);
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'limited', { mirror: true });
    const a = client(relay, threadId, 'alice', alice);
    await synced(a);
    const ids = Array.from({ length: 25 }, (_, i) => a.send(`limited ${i}`).id);
    await a.until(allIn(a, ids, 'confirmed'), 'all confirmed under the rate limit', 60_000);

    // The first call could not know the budget was spent: refused once, and only once.
    expect(refusals).toHaveLength(1);
    const calls = proxy.calls;
    expect(calls[0]!.status).toBe(429);
    // Nothing was sent before the announced reset, and no later call exceeded the budget.
    expect(calls[1]!.at).toBeGreaterThanOrEqual(refusals[0]!.resetAt);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i]!.status).toBe(200);
      expect(calls[i]!.writes * 3).toBeLessThanOrEqual(budgetAtCall[i]!);
    }
    expect(calls.slice(1).reduce((s, c) => s + c.writes, 0)).toBe(25);
    expect((await net.listRecords(account.did)).map((r) => r.rkey).sort()).toEqual([...ids].sort());
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/^skein_bridge_failures_total\{class="rate_limited"\} 1$/m);
  });
});
