/** A tiny element builder: the app renders with plain DOM calls, no framework. */
import { parseRemoteAuthorId } from '../../shared/schema.ts';

type Attr = string | number | boolean | undefined | null | ((e: Event) => void);
type Child = Node | string | number | null | undefined | false;

/**
 * Creates `<tag>` with attributes (`on*` functions become listeners, `true` sets an empty
 * attribute, `false`/null/undefined leave it out) and children (strings become text).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return el;
}

/** Text only screen readers get (the visible text stays short). */
export function srOnly(text: string): HTMLSpanElement {
  return h('span', { class: 'visually-hidden' }, text);
}

// One formatter each: `toLocale…String` with options builds a new Intl formatter per call
// (~0.3 ms), which made every page of older messages a long task.
const TIME = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
const DATE_TIME = new Intl.DateTimeFormat([], { dateStyle: 'short', timeStyle: 'medium' });
const DAY = new Intl.DateTimeFormat([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });

/** Clock time without seconds (chat times are read at a glance). */
export function formatTime(ms: number): string {
  return TIME.format(ms);
}

/** Full local date and time (a tooltip). */
export function formatDateTime(ms: number): string {
  return DATE_TIME.format(ms);
}

/** Local calendar day of `ms`, as a stable key (YYYY-MM-DD). */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** "Today", "Yesterday" or the date, for a day separator. */
export function formatDay(ms: number, now = Date.now()): string {
  if (dayKey(ms) === dayKey(now)) return 'Today';
  if (dayKey(ms) === dayKey(now - 86_400_000)) return 'Yesterday';
  return DAY.format(ms);
}

/** `did:plc:abcdefgh…` — enough to tell repos apart; the full DID goes in a title. */
export function shortDid(did: string): string {
  return did.length > 20 ? `${did.slice(0, 16)}…` : did;
}

/**
 * How an author is named everywhere (timeline, thread list): a remote author id
 * (`name@did:…`, ingested from another relay's AT repo) reads "name via did:plc:abcd…".
 */
export function authorLabel(authorId: string): string {
  const remote = parseRemoteAuthorId(authorId);
  return remote ? `${remote.name} via ${shortDid(remote.did)}` : authorId;
}
