/**
 * An open thread's app-side bookkeeping: this user's rejected messages (kept in
 * localStorage so a reload still shows what was refused), the timeline with them, and the
 * live-region announcements of status changes.
 */
import type { ViewMessage } from '../index.ts';
import type { App, ThreadUi } from './app-state.ts';
import { presentStatus, reasonText } from './status-view.ts';
import { describeEvent } from './system-events.ts';

const ownKey = (user: string, threadId: string) => `skein-app:own:${user}:${threadId}`;

export function loadOwn(user: string, threadId: string): ThreadUi['own'] {
  try {
    return new Map(JSON.parse(localStorage.getItem(ownKey(user, threadId)) ?? '[]'));
  } catch {
    return new Map();
  }
}

export function saveOwn(user: string, ui: ThreadUi): void {
  const entries = [...ui.own].slice(-200);
  if (entries.length === 0) localStorage.removeItem(ownKey(user, ui.view.threadId));
  else localStorage.setItem(ownKey(user, ui.view.threadId), JSON.stringify(entries));
}

/** Removes every app key of `user` (sign-out). */
export function forgetOwn(user: string): void {
  for (const k of Object.keys(localStorage)) if (k.startsWith(`skein-app:own:${user}:`)) localStorage.removeItem(k);
}

/** The view's messages plus this user's rejected (tombstoned) ones, in display order. */
export function timelineOf(ui: ThreadUi, user: string): ViewMessage[] {
  const msgs = ui.view.messages;
  const present = new Set<string>();
  let dirty = false;
  for (const m of msgs) {
    present.add(m.id);
    if (m.mine && m.status === 'pending' && !ui.own.has(m.id)) {
      ui.own.set(m.id, { text: m.text, clientSentAt: m.clientSentAt });
      dirty = true;
    } else if (m.status !== 'pending' && ui.own.delete(m.id)) {
      dirty = true; // accepted: the document keeps it
    }
  }
  if (dirty) saveOwn(user, ui);
  const extra: ViewMessage[] = [];
  for (const [id, o] of ui.own) {
    if (present.has(id)) continue;
    const c = ui.view.roots.canon.get(id);
    if (c?.state !== 'rejected') continue;
    extra.push({ id, authorId: user, text: o.text, clientSentAt: o.clientSentAt, mine: true, status: 'rejected', error: c.error ?? 'REJECTED', seq: c.seq, sentAt: c.sentAt });
  }
  if (extra.length === 0) return msgs;
  const key = (m: ViewMessage) => m.seq ?? Number.MAX_SAFE_INTEGER;
  return [...msgs, ...extra].sort((a, b) => key(a) - key(b));
}

/** Tells the live region what changed since the last call (others' new messages, own statuses). */
export function announceChanges(app: App, ui: ThreadUi): void {
  if (ui.view.isPartial) return;
  announceEvents(app, ui);
  const msgs = timelineOf(ui, app.user);
  if (!ui.known) {
    ui.known = new Map(msgs.map((m) => [m.id, m.status]));
    return;
  }
  const open = ui.view.threadId === app.currentId;
  for (const m of msgs) {
    const before = ui.known.get(m.id);
    if (before === m.status) continue;
    ui.known.set(m.id, m.status);
    if (!m.mine) {
      // Announced once the relay has it (it may first arrive without canon, as pending).
      if ((before === undefined || before === 'pending') && m.status !== 'pending') {
        app.announcer.say(open ? `${m.authorId}: ${m.text}` : `New message from ${m.authorId} in ${app.titleOf(ui.view.threadId)}`);
      }
      continue;
    }
    if (before === undefined) continue; // own new message: the composer already told the user
    const p = presentStatus(m, true);
    if (m.status === 'failed') app.announcer.say(`Your message could not be mirrored to AT. Retry is available.`);
    else if (m.status === 'rejected') app.announcer.say(`Your message was not delivered: ${reasonText(m.error)}.`);
    else app.announcer.say(`Your message: ${p.text}`);
  }
}

/** Membership changes made by others since the last call, in the open thread ("bob added carol"). */
function announceEvents(app: App, ui: ThreadUi): void {
  const events = ui.view.systemEvents;
  if (!ui.knownEvents) {
    ui.knownEvents = new Set(events.map((e) => e.id));
    return;
  }
  for (const e of events) {
    if (ui.knownEvents.has(e.id)) continue;
    ui.knownEvents.add(e.id);
    // One's own change was announced by the control that made it.
    if (e.actor !== app.user && ui.view.threadId === app.currentId) app.announcer.say(describeEvent(e));
  }
}
