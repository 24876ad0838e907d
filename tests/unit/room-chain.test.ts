import { describe, expect, it } from 'vitest';
import { RoomChain } from '../../server/room/room-chain.ts';

describe('RoomChain', () => {
  it('runs tasks one at a time in order, and a failed task neither stalls nor skips the next', async () => {
    const errors: unknown[] = [];
    const chain = new RoomChain((err) => errors.push(err));
    const log: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) => async () => {
      running++;
      expect(running).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      log.push(name);
      running--;
      if (fail) throw new Error(name);
    };
    chain.add(task('a'));
    chain.add(task('b', true));
    const c = chain.run(async () => {
      await task('c')();
      return 42;
    });
    const d = chain.run(async () => {
      await task('d')();
      throw new Error('d');
    });
    chain.add(task('e'));
    await expect(c).resolves.toBe(42);
    await expect(d).rejects.toThrow('d');
    await chain.idle();
    expect(log).toEqual(['a', 'b', 'c', 'd', 'e']);
    // The failure of an `add` task is reported; a `run` task's goes to its caller only.
    expect(errors.map(String)).toEqual(['Error: b']);
  });
});
