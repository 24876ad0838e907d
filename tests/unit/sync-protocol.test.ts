import { describe, expect, it } from 'vitest';
import * as encoding from 'lib0/encoding';
import { MalformedFrameError, decodeFrame, encodeAwareness, encodeSyncStep1, encodeUpdate } from '../../server/room/sync-protocol.ts';

describe('decodeFrame', () => {
  it('decodes the frames it encodes', () => {
    expect(decodeFrame(encodeSyncStep1(new Uint8Array([1, 2])))).toEqual({ kind: 'sync-step1', stateVector: new Uint8Array([1, 2]) });
    expect(decodeFrame(encodeUpdate(new Uint8Array([3])))).toMatchObject({ kind: 'update', update: new Uint8Array([3]) });
    expect(decodeFrame(encodeAwareness(new Uint8Array([4])))).toEqual({ kind: 'awareness', update: new Uint8Array([4]) });
    expect(decodeFrame(new Uint8Array([3]))).toEqual({ kind: 'query-awareness' });
  });
  it.each([
    ['empty', new Uint8Array([])],
    ['unknown type', new Uint8Array([9])],
    ['unknown sync step', new Uint8Array([0, 7, 0])],
    ['truncated payload', new Uint8Array([0, 2, 10, 1])],
    ['trailing bytes', new Uint8Array([3, 0])],
    ['huge varint length', (() => {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint(e, 2 ** 40);
      return encoding.toUint8Array(e);
    })()],
  ])('rejects %s', (_n, bytes) => {
    expect(() => decodeFrame(bytes)).toThrow(MalformedFrameError);
  });
});
