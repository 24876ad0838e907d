/**
 * Membership and roles (issue 30, docs/design/membership.md) against a real relay process and
 * stock y-websocket clients: who may add and remove members and name moderators, what a
 * removed member experiences (4403, nothing afterwards) and what an added member gets.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode } from '../../shared/errors.ts';
import { type SystemEvent, orderedSystemEvents, systemEventsOf } from '../../shared/membership.ts';
import type { ThreadListEvent } from '../../shared/api-types.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { synced } from '../helpers/y-client.ts';

const { relay, tokens, client } = relayFixture({ SKEIN_IDLE_UNLOAD_MS: '300' }, ['alice', 'bob', 'carol', 'dave', 'mallory']);

const events = (c: { doc: import('yjs').Doc }): SystemEvent[] => orderedSystemEvents(systemEventsOf(c.doc).toArray());

/** The user's `/v1/events` socket and every event it received. */
function eventsSocket(user: string) {
  const got: ThreadListEvent[] = [];
  const ws = new WebSocket(`${relay.wsUrl.replace(/\/sync$/, '')}/events?token=${tokens[user]}`);
  ws.on('message', (d) => got.push(JSON.parse(String(d)) as ThreadListEvent));
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, got, open };
}

async function until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('roles', () => {
  it('the creator owns the thread; owner and moderators are in the API and in meta', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
    const t = await relay.api('GET', `/v1/threads/${id}`, tokens.bob);
    expect(t.body).toMatchObject({ owner: 'alice', moderators: [] });
    const set = await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.alice, { moderators: ['bob'] });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ owner: 'alice', moderators: ['bob'] });
    const c = client(id, 'carol');
    await c.until(() => JSON.stringify(c.roots.meta.get('moderators')) === '["bob"]' && c.roots.meta.get('owner') === 'alice', 'meta has the roles');
    expect(events(c).map((e) => [e.type, e.actor, e.moderators])).toEqual([['moderators_set', 'alice', ['bob']]]);
  });

  it('refuses member management without the role with 403', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
    await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.alice, { moderators: ['bob'] });
    // A plain member: no adding, no removing others, no moderators.
    const add = await relay.api('POST', `/v1/threads/${id}/members`, tokens.carol, { userId: 'dave' });
    expect(add.status).toBe(403);
    expect(add.body.error.code).toBe('FORBIDDEN');
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.carol)).status).toBe(403);
    expect((await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.carol, { moderators: [] })).status).toBe(403);
    // A moderator names no moderators and removes no moderator; a non-member does nothing.
    expect((await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.bob, { moderators: ['carol'] })).status).toBe(403);
    expect((await relay.api('POST', `/v1/threads/${id}/members`, tokens.mallory, { userId: 'mallory' })).status).toBe(403);
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/carol`, tokens.mallory)).status).toBe(403);
    // Nobody removes the owner; bad input is a 400; an unknown member a 404.
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/alice`, tokens.bob)).status).toBe(409);
    expect((await relay.api('POST', `/v1/threads/${id}/members`, tokens.alice, { userId: 'x@did:plc:abc' })).status).toBe(400);
    expect((await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.alice, { moderators: ['dave'] })).status).toBe(400);
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/dave`, tokens.alice)).status).toBe(404);
    // Remote members are membership too.
    expect((await relay.api('POST', `/v1/threads/${id}/remotes`, tokens.carol, { did: 'did:plc:abcdefghijklmnopqrstuvwx' })).status).toBe(403);
    const t = await relay.api('GET', `/v1/threads/${id}`, tokens.alice);
    expect(t.body).toMatchObject({ participants: ['alice', 'bob', 'carol'], moderators: ['bob'], remotes: [] });
  });

  it('a moderator adds and removes plain members; a member may leave', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
    await relay.api('PUT', `/v1/threads/${id}/moderators`, tokens.alice, { moderators: ['bob'] });
    expect((await relay.api('POST', `/v1/threads/${id}/members`, tokens.bob, { userId: 'dave' })).body.participants).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/dave`, tokens.bob)).status).toBe(200);
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/carol`, tokens.carol)).status).toBe(200);
    // The owner removes a moderator: the role goes with the membership.
    const r = await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice);
    expect(r.body).toMatchObject({ participants: ['alice'], moderators: [] });
    const a = client(id, 'alice');
    await a.until(() => events(a).length === 5, 'five system events');
    expect(events(a).map((e) => [e.type, e.actor, e.target ?? null])).toEqual([
      ['moderators_set', 'alice', null],
      ['member_added', 'bob', 'dave'],
      ['member_removed', 'bob', 'dave'],
      ['member_removed', 'carol', 'carol'],
      ['member_removed', 'alice', 'bob'],
    ]);
  });

  it('a peer cannot write system events (relay only, 4402)', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const b = client(id, 'bob');
    await synced(b);
    systemEventsOf(b.doc).push([{ id: 'x', type: 'member_added', actor: 'alice', target: 'mallory', at: 1, afterSeq: 0 }]);
    expect((await b.nextClose()).code).toBe(CloseCode.POLICY_VIOLATION);
  });
});

describe('removal', () => {
  it("closes the removed member's socket with 4403, refuses a reconnect, and sends them nothing afterwards", async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
    const a = client(id, 'alice');
    const b = client(id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    const before = a.send('before the removal');
    await b.until(allCanon(b, [before.id]), 'bob has the first message');
    const ev = eventsSocket('bob');
    await ev.open;
    const closed = b.nextClose();
    const r = await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice);
    expect(r.status).toBe(200);
    expect(await closed).toMatchObject({ code: CloseCode.NOT_A_MEMBER, reason: 'removed' });
    await until(() => ev.got.some((e) => e.threadId === id && e.change === 'removed'), 'bob is told he was removed');
    // Nothing after the removal reached bob: not even the meta change that removed him.
    expect(b.roots.meta.get('participants')).toEqual(['alice', 'bob', 'carol']);
    expect(systemEventsOf(b.doc).length).toBe(0);
    const after = a.send('after the removal');
    // Carol, added back later, is the witness that the message and an archive happened.
    const c = client(id, 'carol');
    await c.until(allCanon(c, [after.id]), 'carol has the later message');
    await relay.api('POST', `/v1/threads/${id}/archive`, tokens.alice);
    await c.until(() => c.roots.meta.get('archived') === true, 'carol sees the archive');
    expect(b.roots.messages.toArray().map((m) => m.id)).toEqual([before.id]);
    expect(ev.got.filter((e) => e.threadId === id).map((e) => e.change)).toEqual(['removed']);
    ev.ws.close();
    // A reconnect is refused; so is every HTTP route of the thread.
    const again = client(id, 'bob');
    expect((await again.nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
    expect(again.roots.messages.length).toBe(0);
    expect((await relay.api('GET', `/v1/threads/${id}/messages`, tokens.bob)).status).toBe(403);
    expect((await relay.api('GET', '/v1/threads', tokens.bob)).body.threads.map((t: { id: string }) => t.id)).not.toContain(id);
  });

  it('an added member syncs the full history and is told on the events channel', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    await synced(a);
    const m1 = a.send('history one');
    const m2 = a.send('history two');
    await a.until(allCanon(a, [m1.id, m2.id]), 'alice has canon');
    const refused = client(id, 'dave');
    expect((await refused.nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
    const ev = eventsSocket('dave');
    await ev.open;
    const r = await relay.api('POST', `/v1/threads/${id}/members`, tokens.alice, { userId: 'dave' });
    expect(r.status).toBe(200);
    await until(() => ev.got.some((e) => e.threadId === id && e.change === 'members'), 'dave is told');
    ev.ws.close();
    const d = client(id, 'dave');
    await d.until(allCanon(d, [m1.id, m2.id]), 'dave has the history');
    await d.until(() => events(d).some((e) => e.type === 'member_added' && e.target === 'dave' && e.afterSeq === 2), 'dave sees his join after seq 2');
    const m3 = d.send('hello from dave');
    await a.until(allCanon(a, [m3.id]), 'alice gets dave’s message');
    // Adding again changes nothing.
    await relay.api('POST', `/v1/threads/${id}/members`, tokens.alice, { userId: 'dave' });
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.alice)).body.participants).toEqual(['alice', 'bob', 'dave']);
  });

  it('a member removed while the thread is not loaded is refused at the next connect', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice)).status).toBe(200);
    const b = client(id, 'bob');
    expect((await b.nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
  });
});
