/** The process's ping heartbeat (server/ops/heartbeat.ts): one timer, every member once per interval. */
import { expect, it } from 'vitest';
import { Heartbeat } from '../../server/ops/heartbeat.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('calls each member once per interval, members spread over the slots, until it leaves', async () => {
  const h = new Heartbeat(100, 10);
  const calls = new Array<number>(25).fill(0);
  const leave = calls.map((_, i) => h.add(() => calls[i]!++));
  // Ticks, not wall time, decide the counts: wait until the last member was called 5 times.
  while (calls[24]! < 5) await sleep(20);
  // Every member joined before the first tick: each has been called 4, 5 or 6 times now.
  for (const n of calls) expect(n).toBeGreaterThanOrEqual(4), expect(n).toBeLessThanOrEqual(6);
  leave[0]!();
  leave[0]!(); // leaving twice is harmless
  const left = calls[0]!;
  const other = calls[1]!;
  while (calls[1]! < other + 2) await sleep(20);
  expect(calls[0]).toBe(left);
  leave.forEach((l) => l());
});

it('is one heartbeat per interval for the whole process', () => {
  expect(Heartbeat.every(30_000)).toBe(Heartbeat.every(30_000));
  expect(Heartbeat.every(30_000)).not.toBe(Heartbeat.every(10_000));
});
