/**
 * The document policy (DESIGN.md, "The thread document"): decides whether a peer's Yjs
 * update may be applied to the relay's copy of a thread, before anything is applied.
 *
 * Only what is NEW to the relay is judged: structs past the relay's state vector and
 * deletions of items the relay still has undeleted. A reconnecting client's sync step 2
 * repeats much the relay already knows (old messages, relay-written canon, old receipt
 * overwrites) and must pass.
 *
 * Pure: reads the relay document, never writes it. The caller applies the update only
 * on an `ok` verdict, holds it on `pending` (its dependencies have not arrived yet) and
 * closes the connection on a refusal.
 */
import * as Y from 'yjs';
import { CloseCode } from '../shared/errors.ts';
import {
  ID_PATTERN,
  type MessageRecord,
  Roots,
  type ThreadRoots,
  parseReceiptKey,
  validateMessageRecord,
  validateReceipt,
} from '../shared/schema.ts';
import type { StreamLimits } from '../shared/stream.ts';
import { StreamChecker } from './stream-policy.ts';

/** What the policy needs to know about the thread and the peer. */
export interface PolicyContext {
  doc: Y.Doc;
  roots: ThreadRoots;
  /** The authenticated user of the connection the update came from. */
  userId: string;
  maxTextLength: number;
  /** Limits of streamed replies (the `streams` root); default DEFAULT_STREAM_LIMITS. */
  streamLimits?: StreamLimits;
  /** True when a message with this id already exists in the thread. */
  isKnownMessageId(id: string): boolean;
  /**
   * The author of a known message, when the room can tell: a peer re-appending its own
   * message by id (the SDK after a roll, when the relay already took it from the sealed
   * copy) is not refused; its copy is a duplicate the relay tombstones.
   */
  authorOfKnownMessage?(id: string): string | undefined;
  /**
   * How many of the relay's structs a delete set may make the checker visit (default:
   * unbounded). Live updates delete a few receipts; only a backlog (sync step 2) carries
   * a whole delete set, so the room bounds the others.
   */
  deletionWalkBudget?: number;
  /**
   * Yjs client ids of other relay instances' rooms of this thread (fan-out, issue #13): their
   * structs are the relay's own, never a peer's to write; new ones wait for the store catch-up.
   */
  isRelayClient?(client: number): boolean;
  /** True when other relay instances may write this thread (fan-out is on). */
  otherRelays?: boolean;
}

/** A new message record found in an accepted update, with the Yjs id of its element. */
export interface AcceptedMessage {
  record: MessageRecord;
  client: number;
  clock: number;
}

export type Verdict =
  | {
      ok: true;
      /** New message records, in update order. */
      messages: AcceptedMessage[];
      /** The peer's own messages appended again under a known id: to be tombstoned. */
      duplicates: AcceptedMessage[];
      /** Receipt keys the update touches → highest new `readAt` in it (null: only deleted). */
      receipts: Map<string, number | null>;
    }
  | { ok: false; pending?: undefined; code: number; reason: string }
  /** Depends on structs the relay does not have yet; nothing was judged unsafe so far. */
  | { ok: false; pending: true; reason: string };

export type Refusal = { ok: false; pending?: undefined; code: number; reason: string };

export const refuse = (reason: string, code: number = CloseCode.POLICY_VIOLATION): Refusal => ({ ok: false, code, reason });

/** Where an item lives: a root type (by name) and its map key, or why that is unknowable. */
type Place =
  | { root: string; sub: string | null }
  | { missing: true }
  | { refused: Refusal };

type Struct = Y.Item | Y.GC | Y.Skip;

class PolicyError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.reason);
  }
}

/** Decides whether `update` (Yjs update v1) may be applied to `ctx.doc`. Never throws. */
export function checkUpdate(ctx: PolicyContext, update: Uint8Array): Verdict {
  let decoded: { structs: Struct[]; ds: { clients: Map<number, Array<{ clock: number; len: number }>> } };
  try {
    decoded = Y.decodeUpdate(update) as typeof decoded;
  } catch {
    return refuse('undecodable update', CloseCode.MALFORMED);
  }
  try {
    return new Checker(ctx, decoded.structs).run(decoded.ds.clients);
  } catch (e) {
    if (e instanceof PolicyError) return e.refusal;
    // Anything unexpected in a hostile update is treated as malformed, never as accepted.
    return refuse('malformed update', CloseCode.MALFORMED);
  }
}

class Checker {
  private readonly store: Y.Doc['store'];
  /** New structs of the update per client, in clock order (known prefixes included). */
  private readonly byClient = new Map<number, Struct[]>();
  private readonly states = new Map<number, number>();
  private readonly places = new Map<Struct, Place>();
  private pendingReason: string | null = null;
  private walkBudget: number;
  private readonly messages: AcceptedMessage[] = [];
  private readonly duplicates: AcceptedMessage[] = [];
  private readonly receipts = new Map<string, number | null>();
  private readonly newIds = new Set<string>();
  private readonly streams: StreamChecker;

  constructor(
    private readonly ctx: PolicyContext,
    private readonly structs: Struct[],
  ) {
    this.store = ctx.doc.store;
    this.walkBudget = ctx.deletionWalkBudget ?? Infinity;
    this.streams = new StreamChecker(ctx, this.newIds);
  }

  private state(client: number): number {
    let s = this.states.get(client);
    if (s === undefined) {
      s = Y.getState(this.store, client);
      this.states.set(client, s);
    }
    return s;
  }

  private pending(reason: string): void {
    this.pendingReason ??= reason;
  }

  run(ds: Map<number, Array<{ clock: number; len: number }>>): Verdict {
    // Yjs keeps only the last section of a client that appears twice; refuse such
    // updates so that what is checked is exactly what would be applied.
    let last: number | null = null;
    let nextClock = 0;
    for (const s of this.structs) {
      const c = s.id.client;
      if (c !== last) {
        if (this.byClient.has(c)) throw new PolicyError(refuse('client appears twice in update', CloseCode.MALFORMED));
        this.byClient.set(c, []);
        last = c;
      } else if (s.id.clock !== nextClock) {
        throw new PolicyError(refuse('non-contiguous structs', CloseCode.MALFORMED));
      }
      if (s.length <= 0 && !(s instanceof Y.Skip)) throw new PolicyError(refuse('empty struct', CloseCode.MALFORMED));
      nextClock = s.id.clock + s.length;
      this.byClient.get(c)!.push(s);
    }

    for (const [client, list] of this.byClient) {
      const state = this.state(client);
      if (list.some((s) => s.id.clock + s.length > state)) {
        if (this.ctx.isRelayClient?.(client)) {
          // Another relay instance's structs this one has not received yet (a lost fan-out
          // message, or a client that moved over): they are in the store, the room catches up.
          this.pending('structs of another relay instance');
          continue;
        }
        this.checkClientOwner(client, state);
      }
      let next = state;
      for (const s of list) {
        if (s.id.clock + s.length <= state) continue; // already known to the relay
        if (s.id.clock > next || s instanceof Y.Skip) {
          // A gap before this struct: the relay lacks earlier structs of this client.
          this.pending('missing earlier structs');
          break;
        }
        this.checkNewStruct(s, state);
        next = s.id.clock + s.length;
      }
    }
    for (const [client, ranges] of ds) {
      for (const { clock, len } of mergeRanges(ranges)) this.checkDeletion(client, clock, len);
    }
    if (this.pendingReason) return { ok: false, pending: true, reason: this.pendingReason };
    const streams = this.streams.finish();
    if (streams) throw new PolicyError(streams);
    return { ok: true, messages: this.messages, duplicates: this.duplicates, receipts: this.receipts };
  }

  /**
   * Yjs client ids are not authenticated: a peer continuing another user's client id
   * could take the clocks that user is about to write (and the relay would then skip
   * that user's real structs as already known). The owner is read from the client's
   * latest identifiable structs at the relay: a message's author, a receipt key's user,
   * or the relay itself for canon/meta.
   */
  private checkClientOwner(client: number, state: number): void {
    if (client === this.ctx.doc.clientID) throw new PolicyError(refuse('client id of the relay'));
    if (state === 0) return;
    const structs = this.store.clients.get(client)!;
    for (let i = structs.length - 1, seen = 0; i >= 0 && seen < 64; i--, seen++) {
      const s = structs[i];
      if (!(s instanceof Y.Item)) continue;
      const place = this.relayPlace(s);
      if (!('root' in place)) continue;
      let owner: string | null = null;
      if (place.root === Roots.messages && s.content instanceof Y.ContentAny) {
        const last = s.content.arr[s.content.arr.length - 1] as { authorId?: unknown } | undefined;
        if (typeof last?.authorId === 'string') owner = last.authorId;
      } else if (place.root === Roots.receipts && place.sub !== null) {
        owner = parseReceiptKey(place.sub)?.userId ?? null;
      } else if (place.root === Roots.streams && s.content instanceof Y.ContentAny) {
        const v = s.content.arr[0] as { authorId?: unknown; status?: unknown } | undefined;
        // The relay writes `interrupted` entries itself: their client is the relay's.
        if (typeof v?.authorId === 'string' && !(v.status === 'interrupted' && (v as { reason?: unknown }).reason === 'idle')) owner = v.authorId;
      } else if (place.root === Roots.canon || place.root === Roots.meta) {
        throw new PolicyError(refuse('client id of the relay'));
      }
      if (owner === null) continue;
      if (owner !== this.ctx.userId) throw new PolicyError(refuse('client id belongs to another user'));
      return;
    }
  }

  /** Checks a struct that is (at least partly) new; `state` is the relay's clock for its client. */
  private checkNewStruct(s: Struct, state: number): void {
    if (s instanceof Y.GC) throw new PolicyError(refuse('garbage-collected structs are not accepted'));
    const item = s as Y.Item;
    const content = item.content;
    if (content instanceof Y.ContentType) throw new PolicyError(refuse('nested Y types are not allowed'));
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) {
      throw new PolicyError(refuse('text content is not allowed'));
    }
    if (!(content instanceof Y.ContentAny) && !(content instanceof Y.ContentDeleted)) {
      throw new PolicyError(refuse('unsupported content type'));
    }
    const place = this.placeOf(item);
    if ('missing' in place) return this.pending('missing parent or origin');
    if ('refused' in place) throw new PolicyError(place.refused);
    if ((place.root === Roots.canon || place.root === Roots.meta) && this.ctx.otherRelays && state === 0) {
      // Canon of a relay instance this one never heard from: wait for the store catch-up
      // rather than refuse (a forgery stays held and is never applied).
      return this.pending('relay structs of an unknown instance');
    }
    this.checkPlaceWritable(place);
    // Both neighbours must be in the same list: Yjs takes the parent from the left one.
    if (item.origin && item.rightOrigin) {
      const right = this.placeOfId(item.rightOrigin);
      if ('missing' in right) return this.pending('missing right origin');
      if ('refused' in right) throw new PolicyError(right.refused);
      if (right.root !== place.root || right.sub !== place.sub) throw new PolicyError(refuse('origins in different parents'));
    }
    const offset = Math.max(0, state - item.id.clock);
    if (place.root === Roots.messages) {
      if (place.sub !== null) throw new PolicyError(refuse('keyed entry in messages'));
      if (content instanceof Y.ContentDeleted) throw new PolicyError(refuse('deleting a message is not allowed'));
      const arr = (content as Y.ContentAny).arr;
      for (let j = offset; j < arr.length; j++) this.checkMessage(arr[j], item.id.client, item.id.clock + j);
    } else if (place.root === Roots.streams) {
      const r = this.streams.write(place.sub, content);
      if (r) throw new PolicyError(r);
    } else {
      // receipts
      if (place.sub === null) throw new PolicyError(refuse('receipts entry without key'));
      this.checkReceiptKey(place.sub);
      if (content instanceof Y.ContentAny) {
        const arr = content.arr;
        if (arr.length !== 1) throw new PolicyError(refuse('malformed receipt entry'));
        const v = validateReceipt(arr[0]);
        if (!v.ok) throw new PolicyError(refuse(v.reason));
        const readAt = (arr[0] as { readAt: number }).readAt;
        const prev = this.receipts.get(place.sub);
        this.receipts.set(place.sub, prev == null ? readAt : Math.max(prev, readAt));
      } else if (!this.receipts.has(place.sub)) {
        this.receipts.set(place.sub, null);
      }
    }
  }

  private checkPlaceWritable(place: { root: string; sub: string | null }): void {
    if (place.root === Roots.messages || place.root === Roots.receipts || place.root === Roots.streams) return;
    if (place.root === Roots.canon || place.root === Roots.meta) {
      throw new PolicyError(refuse(`${place.root} is written by the relay only`));
    }
    if (place.root === '') throw new PolicyError(refuse('nested Y types are not allowed'));
    throw new PolicyError(refuse('unknown root type'));
  }

  private checkMessage(value: unknown, client: number, clock: number): void {
    const v = validateMessageRecord(value, this.ctx.maxTextLength);
    if (!v.ok) {
      throw new PolicyError(refuse(`invalid message: ${v.reason}`, v.reason === 'text too long' ? CloseCode.TOO_LARGE : CloseCode.POLICY_VIOLATION));
    }
    const record = value as MessageRecord;
    if (record.authorId !== this.ctx.userId) throw new PolicyError(refuse('authorId is not the connected user'));
    if (this.newIds.has(record.id)) throw new PolicyError(refuse('duplicate message id'));
    if (this.ctx.isKnownMessageId(record.id)) {
      if (this.ctx.authorOfKnownMessage?.(record.id) !== this.ctx.userId) throw new PolicyError(refuse('duplicate message id'));
      this.newIds.add(record.id);
      this.duplicates.push({ record, client, clock });
      return;
    }
    this.newIds.add(record.id);
    this.messages.push({ record, client, clock });
  }

  private checkReceiptKey(key: string): void {
    const k = parseReceiptKey(key);
    if (!k || !ID_PATTERN.test(k.messageId)) throw new PolicyError(refuse('malformed receipt key'));
    if (k.userId !== this.ctx.userId) throw new PolicyError(refuse('receipt for another user'));
  }

  /** Checks one deleted range: only own receipts may be newly deleted. */
  private checkDeletion(client: number, clock: number, len: number): void {
    if (len <= 0) return;
    const end = clock + len;
    const state = this.state(client);
    if (clock < state) {
      const structs = this.store.clients.get(client)!;
      for (let i = Y.findIndexSS(structs, clock); i < structs.length; i++) {
        const s = structs[i]!;
        if (s.id.clock >= end) break;
        if (--this.walkBudget < 0) throw new PolicyError(refuse('delete set too large for a live update'));
        if (s.deleted) continue; // already deleted at the relay: nothing new
        this.checkDeletedPlace(this.relayPlace(s as Y.Item));
      }
    }
    if (end <= state) return;
    // Deletions of structs the relay does not have: they must come with this update.
    const list = this.byClient.get(client) ?? [];
    let covered = Math.max(clock, state);
    for (const s of list) {
      if (s.id.clock + s.length <= covered) continue;
      if (s.id.clock > covered || s instanceof Y.Skip) break;
      if (s instanceof Y.GC) throw new PolicyError(refuse('garbage-collected structs are not accepted'));
      const place = this.placeOf(s as Y.Item);
      if ('missing' in place) return this.pending('deletion of unknown structs');
      if ('refused' in place) throw new PolicyError(place.refused);
      this.checkDeletedPlace(place);
      covered = s.id.clock + s.length;
      if (covered >= end) return;
    }
    this.pending('deletion of unknown structs');
  }

  private checkDeletedPlace(place: Place): void {
    if ('missing' in place) return this.pending('deletion of unknown structs');
    if ('refused' in place) throw new PolicyError(place.refused);
    if (place.root === Roots.receipts && place.sub !== null) {
      this.checkReceiptKey(place.sub);
      if (!this.receipts.has(place.sub)) this.receipts.set(place.sub, null);
      return;
    }
    if (place.root === Roots.messages) throw new PolicyError(refuse('deleting a message is not allowed'));
    if (place.root === Roots.streams && place.sub !== null) {
      const r = this.streams.removeKnown(place.sub);
      if (r) throw new PolicyError(r);
      return;
    }
    this.checkPlaceWritable(place);
    throw new PolicyError(refuse('deletion not allowed'));
  }

  /** Place of an item the relay has. Root name '' stands for a nested type. */
  private relayPlace(item: Y.Item): Place {
    const parent = item.parent as Y.AbstractType<unknown> | null;
    if (!parent) return { refused: refuse('item without parent') };
    const sub = item.parentSub;
    const r = this.ctx.roots;
    if (parent === r.messages) return { root: Roots.messages, sub };
    if (parent === r.receipts) return { root: Roots.receipts, sub };
    if (parent === r.canon) return { root: Roots.canon, sub };
    if (parent === r.meta) return { root: Roots.meta, sub };
    if (parent === r.streams) return { root: Roots.streams, sub };
    if (parent._item !== null) return { root: '', sub };
    return { root: `other:${Y.findRootTypeKey(parent)}`, sub };
  }

  /** Place of the struct containing `id`, looked up at the relay, then in this update. */
  private placeOfId(id: Y.ID): Place {
    if (id.clock < this.state(id.client)) {
      const s = Y.getItem(this.store, id) as Struct;
      if (s instanceof Y.GC) return { refused: refuse('origin is garbage-collected') };
      return this.relayPlace(s as Y.Item);
    }
    const s = this.findInUpdate(id);
    if (!s || s instanceof Y.Skip) return { missing: true };
    if (s instanceof Y.GC) return { refused: refuse('garbage-collected structs are not accepted') };
    return this.placeOf(s as Y.Item);
  }

  private findInUpdate(id: Y.ID): Struct | undefined {
    const list = this.byClient.get(id.client);
    if (!list) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = list[mid]!;
      if (id.clock < s.id.clock) hi = mid - 1;
      else if (id.clock >= s.id.clock + s.length) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /**
   * Place of a decoded item: its explicit parent, or the parent of its origin (else its
   * right origin), as Yjs resolves it on integration. Iterative, so long chains of
   * items within one update cannot overflow the stack; cycles are refused.
   */
  private placeOf(start: Y.Item): Place {
    const chain: Y.Item[] = [];
    const onChain = new Set<Y.Item>();
    let cur: Y.Item = start;
    let result: Place;
    for (;;) {
      const known = this.places.get(cur);
      if (known) {
        result = known;
        break;
      }
      const parent = cur.parent as string | Y.ID | null;
      if (typeof parent === 'string') {
        result = { root: knownRoot(parent), sub: cur.parentSub };
        break;
      }
      if (parent !== null) {
        result = { refused: refuse('nested Y types are not allowed') };
        break;
      }
      const dep = cur.origin ?? cur.rightOrigin;
      if (!dep) {
        result = { refused: refuse('item without parent', CloseCode.MALFORMED) };
        break;
      }
      chain.push(cur);
      onChain.add(cur);
      if (dep.clock < this.state(dep.client)) {
        result = this.placeOfId(dep); // relay lookup, no recursion into the update
        break;
      }
      const s = this.findInUpdate(dep);
      if (!s || s instanceof Y.Skip) {
        result = { missing: true };
        break;
      }
      if (s instanceof Y.GC) {
        result = { refused: refuse('garbage-collected structs are not accepted') };
        break;
      }
      if (onChain.has(s as Y.Item)) {
        result = { refused: refuse('cyclic origins', CloseCode.MALFORMED) };
        break;
      }
      cur = s as Y.Item;
    }
    for (const it of chain) this.places.set(it, result);
    return result;
  }
}

/** Maps a root name from the wire to the place name used above. */
function knownRoot(name: string): string {
  return name === Roots.messages || name === Roots.receipts || name === Roots.canon || name === Roots.meta || name === Roots.streams
    ? name
    : `other:${name}`;
}

/** Sorts and merges overlapping ranges, so that a repeated range costs nothing. */
function mergeRanges(ranges: Array<{ clock: number; len: number }>): Array<{ clock: number; len: number }> {
  const sorted = [...ranges].sort((a, b) => a.clock - b.clock);
  const out: Array<{ clock: number; len: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.clock <= last.clock + last.len) last.len = Math.max(last.len, r.clock + r.len - last.clock);
    else out.push({ clock: r.clock, len: r.len });
  }
  return out;
}
