/**
 * One conformance suite for every Fanout implementation: two transports joined the way
 * two relay instances are (one shared bus / one Redis with one channel prefix).
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fanout, FanoutUserEvent, ThreadFanoutMessage } from '../../server/fanout/fanout.ts';
import { InProcessBus, InProcessFanout } from '../../server/fanout/in-process-fanout.ts';
import { RedisFanout } from '../../server/fanout/redis-fanout.ts';
import { REDIS_URL, cutFanoutConnections, redisPrefix } from '../helpers/redis.ts';

const log = pino({ level: 'silent' });

/** The Redis prefix of the last pair made (its connections are named by it). */
let redisPairPrefix = '';

const pairs: Array<[string, () => Promise<[Fanout, Fanout]>]> = [
  [
    'in-process',
    async () => {
      const bus = new InProcessBus();
      return [new InProcessFanout(bus), new InProcessFanout(bus)];
    },
  ],
  [
    'redis',
    async () => {
      const prefix = redisPrefix();
      redisPairPrefix = prefix;
      return Promise.all([RedisFanout.open({ url: REDIS_URL, prefix, log }), RedisFanout.open({ url: REDIS_URL, prefix, log })]) as Promise<[Fanout, Fanout]>;
    },
  ],
];

const update = (f: Fanout, threadId: string, n: number, bytes: number[]): ThreadFanoutMessage => ({
  kind: 'update',
  threadId,
  generation: 0,
  origin: `${f.instanceId}/room`,
  n,
  relayClient: 42,
  update: new Uint8Array(bytes),
});

/** Collects what a handler receives; `until(k)` waits for k messages. */
function inbox<T>() {
  const got: T[] = [];
  let wake: () => void = () => {};
  return {
    got,
    push: (m: T) => {
      got.push(m);
      wake();
    },
    async until(k: number, ms = 3000): Promise<T[]> {
      const end = Date.now() + ms;
      while (got.length < k && Date.now() < end) await new Promise<void>((r) => ((wake = r), setTimeout(r, 20)));
      return got;
    },
  };
}

describe.each(pairs)('%s fanout', (name, make) => {
  let open: Fanout[] = [];
  const pair = async () => {
    const p = await make();
    open.push(...p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(open.map((f) => f.close()));
    open = [];
  });

  it('delivers a thread update to the other instance, bytes intact, in order, never back to the publisher', async () => {
    const [a, b] = await pair();
    const atA = inbox<ThreadFanoutMessage>();
    const atB = inbox<ThreadFanoutMessage>();
    await a.subscribe('t1', atA.push);
    await b.subscribe('t1', atB.push);
    for (let i = 1; i <= 20; i++) a.publish(update(a, 't1', i, [i, 0, 255]));
    const got = await atB.until(20);
    expect(got.map((m) => (m.kind === 'update' ? m.n : -1))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const last = got[19]!;
    expect(last.kind === 'update' && [...last.update]).toEqual([20, 0, 255]);
    expect(last).toMatchObject({ threadId: 't1', generation: 0, relayClient: 42, origin: `${a.instanceId}/room` });
    await new Promise((r) => setTimeout(r, 100));
    expect(atA.got).toEqual([]);
  });

  it('delivers awareness, seals, refreshes, gaps and positions; only to subscribers of that thread; not after unsubscribe', async () => {
    const [a, b] = await pair();
    const t1 = inbox<ThreadFanoutMessage>();
    const t2 = inbox<ThreadFanoutMessage>();
    await b.subscribe('t1', t1.push);
    await b.subscribe('t2', t2.push);
    a.publish({ kind: 'awareness', threadId: 't1', origin: `${a.instanceId}/r`, update: new Uint8Array([7, 7]) });
    a.publish({ kind: 'sealed', threadId: 't1', origin: `${a.instanceId}/r`, generation: 3 });
    a.publish({ kind: 'refresh', threadId: 't1', origin: a.instanceId });
    a.publish({ kind: 'gap', threadId: 't1', origin: a.instanceId });
    a.publish({ kind: 'position', threadId: 't1', generation: 2, origin: `${a.instanceId}/r`, n: 17 });
    const got = await t1.until(5);
    expect(got[4]).toEqual({ kind: 'position', threadId: 't1', generation: 2, origin: `${a.instanceId}/r`, n: 17 });
    expect(got[3]).toEqual({ kind: 'gap', threadId: 't1', origin: a.instanceId });
    expect(got[2]).toEqual({ kind: 'refresh', threadId: 't1', origin: a.instanceId });
    expect(got[0]).toMatchObject({ kind: 'awareness', threadId: 't1' });
    expect(got[0]!.kind === 'awareness' && [...got[0]!.update]).toEqual([7, 7]);
    expect(got[1]).toEqual({ kind: 'sealed', threadId: 't1', origin: `${a.instanceId}/r`, generation: 3 });
    expect(t2.got).toEqual([]);
    await b.unsubscribe('t1');
    a.publish(update(a, 't1', 1, [1]));
    a.publish(update(a, 't2', 1, [2]));
    await t2.until(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(t1.got).toHaveLength(5);
  });

  it('delivers user events to every other instance', async () => {
    const [a, b] = await pair();
    const atB = inbox<FanoutUserEvent>();
    const atA = inbox<FanoutUserEvent>();
    b.onUserEvent(atB.push);
    a.onUserEvent(atA.push);
    a.publishUserEvent({ userIds: ['alice', 'bob'], event: { type: 'thread', threadId: 't9', change: 'created' } });
    expect(await atB.until(1)).toEqual([{ userIds: ['alice', 'bob'], event: { type: 'thread', threadId: 't9', change: 'created' } }]);
    await new Promise((r) => setTimeout(r, 100));
    expect(atA.got).toEqual([]);
  });

  it('reports its status; publishing after close is a no-op', async () => {
    const [a, b] = await pair();
    expect(await a.ping()).toBe('up');
    expect(b.status()).toBe('up');
    await a.close();
    expect(() => a.publish(update(a, 't1', 1, [1]))).not.toThrow();
  });

  it.runIf(name === 'redis')('resyncs after its subscriber connection was cut, and keeps its subscriptions', async () => {
    const [a, b] = await pair();
    const atB = inbox<ThreadFanoutMessage>();
    await b.subscribe('t1', atB.push);
    let resyncs = 0;
    b.onResync(() => resyncs++);
    expect(await cutFanoutConnections(redisPairPrefix, 'sub')).toBe(2);
    const end = Date.now() + 5000;
    while (resyncs === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(resyncs).toBeGreaterThan(0);
    a.publish(update(a, 't1', 1, [1]));
    expect(await atB.until(1)).toHaveLength(1);
  });

  it.runIf(name === 'redis')('announces a gap for a thread whose publish failed, once its publisher is back', async () => {
    const [a, b] = await pair();
    const atB = inbox<ThreadFanoutMessage>();
    await b.subscribe('t1', atB.push);
    // Cuts the publishers (not the subscribers).
    expect(await cutFanoutConnections(redisPairPrefix, 'pub')).toBe(2);
    a.publish(update(a, 't1', 1, [1])); // fails: the publisher is reconnecting
    const got = await atB.until(1, 5000);
    expect(got.find((m) => m.kind === 'gap')).toEqual({ kind: 'gap', threadId: 't1', origin: a.instanceId });
  });
});
