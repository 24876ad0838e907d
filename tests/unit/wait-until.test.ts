/**
 * The tests' waitUntil re-checks its predicate when any document it names changes: the fault
 * schedules waited for two replicas to converge while listening to one, and timed out when
 * the other was the last to catch up (seen on a loaded machine, schedule seed 200022).
 */
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/y-client.ts';

describe('waitUntil', () => {
  it('resolves when the last change lands in the second document', async () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    a.getArray('x').push([1]);
    const same = () => Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b)));
    const waiting = waitUntil([a, b], same, 'converged', 2_000);
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    await expect(waiting).resolves.toBeUndefined();
  });

  it('still times out when the predicate never holds', async () => {
    const a = new Y.Doc();
    await expect(waitUntil(a, () => false, 'never', 50)).rejects.toThrow('timed out waiting for: never');
  });
});
