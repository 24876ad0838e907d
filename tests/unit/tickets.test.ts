import { describe, expect, it } from 'vitest';
import { TicketStore } from '../../server/http/tickets.ts';

describe('TicketStore', () => {
  it('a ticket maps to its user once, and not after it expires', () => {
    let now = 1000;
    const s = new TicketStore(30_000, 10, () => now);
    const a = s.issue('alice');
    const b = s.issue('bob');
    expect(a).not.toBe(b);
    expect(s.consume(a)).toBe('alice');
    expect(s.consume(a)).toBeNull();
    now += 30_000;
    expect(s.consume(b)).toBeNull();
    expect(s.consume('unknown')).toBeNull();
    s.close();
  });

  it('is bounded: past the cap, expired tickets go first, then the oldest', () => {
    let now = 0;
    const s = new TicketStore(100, 3, () => now);
    const old = s.issue('u');
    now = 200; // `old` has expired
    const keep = [s.issue('u'), s.issue('u')];
    s.issue('u');
    expect(s.size).toBe(3);
    expect(s.consume(old)).toBeNull();
    const newest = s.issue('u'); // full of live tickets: the oldest one makes room
    expect(s.size).toBe(3);
    expect(s.consume(keep[0]!)).toBeNull();
    expect(s.consume(keep[1]!)).toBe('u');
    expect(s.consume(newest)).toBe('u');
    s.close();
  });
});
