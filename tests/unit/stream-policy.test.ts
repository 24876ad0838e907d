import { describe, expect, it } from 'vitest';
import { checkStreamWrite, DEFAULT_STREAM_LIMITS } from '../../shared/stream.ts';

const base = { writerId: 'u1', authorId: 'u1', status: 'streaming' as const, beforeText: 'Hel', afterText: 'Hello' };

describe('stream write check', () => {
  it('allows the author appending while open', () => {
    expect(checkStreamWrite(base)).toBeNull();
  });
  it('refuses another user with 4402', () => {
    expect(checkStreamWrite({ ...base, writerId: 'u2' })).toBe(4402);
  });
  it('refuses a write after finish or interruption with 4402', () => {
    expect(checkStreamWrite({ ...base, status: 'finished' })).toBe(4402);
    expect(checkStreamWrite({ ...base, status: 'interrupted' })).toBe(4402);
  });
  it('refuses rewriting the text so far with 4402', () => {
    expect(checkStreamWrite({ ...base, afterText: 'Jello' })).toBe(4402);
  });
  it('refuses an oversize stream with 4413', () => {
    const big = 'x'.repeat(DEFAULT_STREAM_LIMITS.maxStreamBytes + 1);
    expect(checkStreamWrite({ ...base, beforeText: '', afterText: big })).toBe(4413);
  });
});
