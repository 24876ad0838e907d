/**
 * Membership changes as rows of the timeline (issue 30, docs/design/membership.md): each
 * system event sits after the message with seq `afterSeq` and before the next one, in the
 * order every replica shows (shared/membership.ts `orderedSystemEvents`), as a distinct row
 * ("alice added bob") that screen readers read as a membership change.
 */
import type { SystemEvent, ViewMessage } from '../index.ts';
import { formatDateTime, formatTime, h, srOnly } from './dom.ts';

/** What happened, in words: "alice added bob", "bob left", "alice made bob moderator". */
export function describeEvent(e: SystemEvent): string {
  if (e.type === 'member_added') return `${e.actor} added ${e.target}`;
  if (e.type === 'member_removed') return e.actor === e.target ? `${e.target} left` : `${e.actor} removed ${e.target}`;
  return e.moderators?.length ? `${e.actor} made ${e.moderators.join(', ')} moderator${e.moderators.length > 1 ? 's' : ''}` : `${e.actor} removed all moderators`;
}

/** The timeline row of one event (keyed `event:<id>` by the timeline). */
export function systemEventRow(e: SystemEvent): HTMLLIElement {
  return h(
    'li',
    { class: 'system-event', 'data-id': e.id, 'data-type': e.type },
    srOnly('Membership change: '),
    h('span', { class: 'event-text' }, describeEvent(e)),
    ' ',
    h('time', { datetime: new Date(e.at).toISOString(), title: formatDateTime(e.at) }, formatTime(e.at)),
  );
}

/**
 * Interleaves `events` (ordered) with a window of messages: before each sequenced message go
 * the events with `afterSeq` from the previous message's seq up to below its own. `fromSeq`:
 * the seq of the message just before the window (−∞ when it starts at the oldest held);
 * `atEnd`: the window ends with the newest message, so the events after the last sequenced
 * one come last (before messages still waiting for their seq).
 */
export function withEvents(msgs: readonly ViewMessage[], events: readonly SystemEvent[], fromSeq: number, atEnd: boolean): Array<ViewMessage | SystemEvent> {
  if (events.length === 0) return [...msgs];
  const out: Array<ViewMessage | SystemEvent> = [];
  let lo = fromSeq;
  let next = events.findIndex((e) => e.afterSeq >= lo);
  if (next < 0) next = events.length;
  const upTo = (limit: number) => {
    while (next < events.length && events[next]!.afterSeq < limit) out.push(events[next++]!);
  };
  for (const m of msgs) {
    if (m.seq === undefined) upTo(Infinity);
    else {
      upTo(m.seq);
      lo = m.seq;
    }
    out.push(m);
  }
  if (atEnd) upTo(Infinity);
  return out;
}

/** Whether a timeline item is a system event (events have `afterSeq`, messages do not). */
export const isSystemEvent = (x: ViewMessage | SystemEvent): x is SystemEvent => 'afterSeq' in x;
