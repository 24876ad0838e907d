/**
 * Where membership changes sit among messages in the app's timeline
 * (client/app/system-events.ts `withEvents`): after the message with seq `afterSeq`, before
 * the next; in a window, only the events between its messages; pending messages last.
 */
import { describe, expect, it } from 'vitest';
import type { SystemEvent, ViewMessage } from '../../client/index.ts';
import { isSystemEvent, withEvents } from '../../client/app/system-events.ts';

const msg = (id: string, seq?: number): ViewMessage => ({ id, authorId: 'alice', text: id, clientSentAt: 1, mine: false, status: seq === undefined ? 'pending' : 'sent', seq }) as ViewMessage;
const ev = (id: string, afterSeq: number): SystemEvent => ({ id, type: 'member_added', actor: 'alice', target: 'bob', at: 1, afterSeq });
const ids = (xs: Array<ViewMessage | SystemEvent>) => xs.map((x) => (isSystemEvent(x) ? `[${x.id}]` : x.id));

describe('withEvents', () => {
  const events = [ev('e0', 0), ev('e1', 1), ev('e1b', 1), ev('e3', 3), ev('e5', 5)];
  it('interleaves by afterSeq; events after the newest message come last, before pending ones', () => {
    const all = [msg('m1', 1), msg('m2', 2), msg('m3', 3), msg('p')];
    expect(ids(withEvents(all, events, -Infinity, true))).toEqual(['[e0]', 'm1', '[e1]', '[e1b]', 'm2', 'm3', '[e3]', '[e5]', 'p']);
  });
  it('a window shows only the events between its messages', () => {
    const window = [msg('m2', 2), msg('m3', 3)];
    expect(ids(withEvents(window, events, 1, false))).toEqual(['[e1]', '[e1b]', 'm2', 'm3']);
    expect(ids(withEvents([msg('m3', 3)], events, 2, true))).toEqual(['m3', '[e3]', '[e5]']);
  });
});
