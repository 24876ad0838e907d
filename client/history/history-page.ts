/**
 * A page of the history cache: the cached messages whose seqs fall in one block of
 * `PAGE_SEQS`, stored as one compressed value. One IndexedDB row per message cost LevelDB
 * ~110 B/msg on disk (its row and id-index overhead, none of it compressed); a page is
 * columnar JSON (fields that repeat sit together, times as small deltas) deflated, so a
 * message costs about its compressed text and id (`npm run bench -- idb-bytes`).
 * Pure functions: encoding, decoding, merging, and the 32-bit id hashes that stand in for a
 * per-message id index.
 */
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import type { CanonicalMessage } from '../../shared/api-types.ts';

/** A sealed message as cached: canonical, with who read it (user → readAt) when known. */
export interface SealedMessage extends CanonicalMessage {
  readBy?: Record<string, number>;
}

/** Seqs per page: page `p` holds seqs `p * PAGE_SEQS .. (p + 1) * PAGE_SEQS - 1`. */
export const PAGE_SEQS = 256;

/** The page a seq belongs to. */
export const pageOf = (seq: number): number => Math.floor(seq / PAGE_SEQS);

/** Fields only some messages have, by index in the page. */
type Extra = Partial<Pick<SealedMessage, 'replyTo' | 'atUri' | 'error' | 'readBy' | 'redacted' | 'editedAt'>>;

/** The page before compression: one array per field, in seq order. */
interface Columns {
  /** Seq deltas (the first is the seq itself). */
  s: number[];
  i: string[];
  a: string[];
  x: string[];
  /** sentAt deltas (the first is sentAt itself). */
  t: number[];
  /** sentAt − clientSentAt. */
  c: number[];
  st: SealedMessage['state'][];
  o?: Record<number, Extra>;
}

/** Encodes messages (ascending by seq, one page) into the stored value. */
export function encodePage(messages: readonly SealedMessage[]): Uint8Array {
  const col: Columns = { s: [], i: [], a: [], x: [], t: [], c: [], st: [] };
  let seq = 0;
  let at = 0;
  messages.forEach((m, k) => {
    col.s.push(m.seq - seq);
    col.t.push(m.sentAt - at);
    seq = m.seq;
    at = m.sentAt;
    col.i.push(m.id);
    col.a.push(m.authorId);
    col.x.push(m.text);
    col.c.push(m.sentAt - m.clientSentAt);
    col.st.push(m.state);
    const extra: Extra = {};
    if (m.replyTo !== undefined) extra.replyTo = m.replyTo;
    if (m.atUri !== undefined) extra.atUri = m.atUri;
    if (m.error !== undefined) extra.error = m.error;
    if (m.readBy !== undefined) extra.readBy = m.readBy;
    if (m.redacted) extra.redacted = true;
    if (m.editedAt !== undefined) extra.editedAt = m.editedAt;
    if (Object.keys(extra).length > 0) (col.o ??= {})[k] = extra;
  });
  return deflateSync(strToU8(JSON.stringify(col)), { level: 6 });
}

/** Decodes a stored page: its messages, ascending by seq. */
export function decodePage(bytes: Uint8Array): SealedMessage[] {
  const col = JSON.parse(strFromU8(inflateSync(bytes))) as Columns;
  const out: SealedMessage[] = [];
  let seq = 0;
  let at = 0;
  for (let k = 0; k < col.s.length; k++) {
    seq += col.s[k]!;
    at += col.t[k]!;
    const m: SealedMessage = { id: col.i[k]!, authorId: col.a[k]!, text: col.x[k]!, clientSentAt: at - col.c[k]!, seq, sentAt: at, state: col.st[k]! };
    const extra = col.o?.[k];
    if (extra) Object.assign(m, extra);
    out.push(m);
  }
  return out;
}

/** `page`'s messages with `incoming` put in (a seq present in both takes the incoming one), ascending. */
export function mergePage(page: readonly SealedMessage[], incoming: readonly SealedMessage[]): SealedMessage[] {
  const bySeq = new Map<number, SealedMessage>();
  for (const m of page) bySeq.set(m.seq, m);
  for (const m of incoming) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq);
}

/** FNV-1a over the id's UTF-16 code units: a page's id hashes find candidate pages for an id. */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < id.length; k++) {
    h ^= id.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The id hashes of a page's messages, stored apart so a lookup by id reads no text. */
export const pageIdHashes = (messages: readonly SealedMessage[]): Uint32Array => Uint32Array.from(messages, (m) => idHash(m.id));
