import { describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_LIMITS, type StreamEntry, checkStreamWrite, validateStreamEntry } from '../../shared/stream.ts';

const entry = (text: string, over: Partial<StreamEntry> = {}): StreamEntry => ({ authorId: 'u1', startedAt: 5, text, status: 'streaming', ...over });
const write = (before: StreamEntry | null, after: StreamEntry, writerId = 'u1') => checkStreamWrite({ writerId, before, after });

describe('stream write check', () => {
  it('allows the author starting and appending while open', () => {
    expect(write(null, entry(''))).toBeNull();
    expect(write(entry('Hel'), entry('Hello'))).toBeNull();
  });
  it('refuses another user with 4402', () => {
    expect(write(entry('Hel'), entry('Hello', { authorId: 'u2' }), 'u2')).toBe(4402);
    expect(write(entry('Hel'), entry('Hello'), 'u2')).toBe(4402);
    expect(write(null, entry('x'), 'u2')).toBe(4402);
  });
  it('refuses a write after interruption, or starting interrupted, with 4402', () => {
    expect(write(entry('Hel', { status: 'interrupted', reason: 'idle' }), entry('Hello'))).toBe(4402);
    expect(write(null, entry('x', { status: 'interrupted', reason: 'aborted' }))).toBe(4402);
  });
  it('lets the author abort (interrupted with an aborted reason), never claim idle', () => {
    expect(write(entry('Hel'), entry('Hel', { status: 'interrupted', reason: 'aborted:user' }))).toBeNull();
    expect(write(entry('Hel'), entry('Hel', { status: 'interrupted', reason: 'idle' }))).toBe(4402);
  });
  it('refuses rewriting the text so far, or its start time, with 4402', () => {
    expect(write(entry('Hel'), entry('Jello'))).toBe(4402);
    expect(write(entry('Hel'), entry('Hello', { startedAt: 6 }))).toBe(4402);
  });
  it('refuses an oversize stream with 4413', () => {
    expect(write(entry(''), entry('x'.repeat(DEFAULT_STREAM_LIMITS.maxStreamBytes + 1)))).toBe(4413);
  });
  it('validates the shape of an entry', () => {
    expect(validateStreamEntry(entry('a')).ok).toBe(true);
    expect(validateStreamEntry({ ...entry('a'), extra: 1 }).ok).toBe(false);
    expect(validateStreamEntry({ ...entry('a'), text: 5 }).ok).toBe(false);
    expect(validateStreamEntry({ ...entry('a'), status: 'finished' }).ok).toBe(false);
    expect(validateStreamEntry(null).ok).toBe(false);
  });
});
