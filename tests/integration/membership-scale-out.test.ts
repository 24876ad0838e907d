/**
 * Membership on two relay instances sharing PostgreSQL and Redis (issue 30): a member removed
 * through one instance is closed with 4403 on the other, refused there afterwards, told on
 * the other instance's events channel, and receives nothing more; a member added through one
 * instance syncs on the other.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import type { ThreadListEvent } from '../../shared/api-types.ts';
import { systemEventsOf } from '../../shared/membership.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const pg = postgresSchemas();

describe('membership on two instances (PostgreSQL + Redis)', () => {
  let relays: RelayProcess[] = [];
  const clients: TestClient[] = [];
  const env = scaleOutEnv(pg.freshSchema());
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    relays = await startInstances(env);
    for (const u of ['alice', 'bob', 'carol', 'dave']) tokens[u] = await relays[0]!.token(u);
  });
  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    await Promise.all(relays.map((r) => r.stop()));
  });
  const on = (i: number, id: string, user: string) => {
    const c = connectClient(relays[i]!.wsUrl, id, tokens[user]!, user);
    clients.push(c);
    return c;
  };

  it('removal through instance 0 closes the member on instance 1 with 4403; they get nothing afterwards', async () => {
    const { id } = await relays[0]!.createThread(tokens.alice!, ['bob', 'carol']);
    const a = on(0, id, 'alice');
    const b = on(1, id, 'bob');
    const c = on(1, id, 'carol');
    await Promise.all([synced(a), synced(b), synced(c)]);
    const first = a.send('before');
    await b.until(allCanon(b, [first.id]), 'bob has the first message on instance 1');
    // Bob's events socket is on instance 1 too.
    const got: ThreadListEvent[] = [];
    const ev = new WebSocket(`${relays[1]!.wsUrl.replace(/\/sync$/, '')}/events?token=${tokens.bob}`);
    ev.on('message', (d) => got.push(JSON.parse(String(d)) as ThreadListEvent));
    await new Promise<void>((resolve, reject) => {
      ev.once('open', () => resolve());
      ev.once('error', reject);
    });
    const closed = b.nextClose(20_000);
    expect((await relays[0]!.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice)).status).toBe(200);
    expect(await closed).toMatchObject({ code: CloseCode.NOT_A_MEMBER, reason: 'removed' });
    // Carol, on bob's instance, sees the removal as meta and a system event; bob saw neither.
    await c.until(() => !(c.roots.meta.get('participants') as string[]).includes('bob'), 'carol sees bob gone');
    await c.until(() => systemEventsOf(c.doc).toArray().some((e) => e.type === 'member_removed' && e.target === 'bob'), 'carol sees the event');
    expect(b.roots.meta.get('participants')).toEqual(['alice', 'bob', 'carol']);
    expect(systemEventsOf(b.doc).length).toBe(0);
    const later = a.send('after');
    await c.until(allCanon(c, [later.id]), 'carol gets the later message on instance 1');
    expect(b.roots.messages.toArray().map((m) => m.id)).toEqual([first.id]);
    const deadline = Date.now() + 15_000;
    while (!got.some((e) => e.threadId === id && e.change === 'removed')) {
      if (Date.now() > deadline) throw new Error(`bob was not told on instance 1: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(got.filter((e) => e.threadId === id).map((e) => e.change)).toEqual(['removed']);
    ev.close();
    // Refused on both instances afterwards.
    for (const i of [0, 1]) {
      const again = on(i, id, 'bob');
      expect((await again.nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
      expect(again.roots.messages.length).toBe(0);
    }
  });

  it('a member added through instance 1 syncs the history on instance 0', async () => {
    const { id } = await relays[0]!.createThread(tokens.alice!, ['bob']);
    const a = on(0, id, 'alice');
    await synced(a);
    const m = a.send('history');
    await a.until(allCanon(a, [m.id]), 'alice has canon');
    await relays[1]!.api('PUT', `/v1/threads/${id}/moderators`, tokens.alice, { moderators: ['bob'] });
    expect((await relays[1]!.api('POST', `/v1/threads/${id}/members`, tokens.bob, { userId: 'dave' })).status).toBe(200);
    const d = on(0, id, 'dave');
    await d.until(allCanon(d, [m.id]), 'dave has the history');
    await a.until(() => systemEventsOf(a.doc).toArray().some((e) => e.type === 'member_added' && e.target === 'dave'), 'alice sees dave join');
  });
});
