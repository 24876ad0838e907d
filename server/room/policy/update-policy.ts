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
 *
 * This module walks the update; the per-root rules, place resolution and the verdict
 * types are modules of server/room/policy/.
 */
import * as Y from 'yjs';
import { CloseCode } from '../../../shared/errors.ts';
import { Roots } from '../../../shared/schema.ts';
import { checkClientOwner } from './client-owner.ts';
import { type LifecycleNotes, ReactionCounter, checkEditWrite, checkRedactionWrite } from './lifecycle.ts';
import { checkMessage } from './messages.ts';
import { type Place, PlaceResolver, type Struct, relayPlace } from './places.ts';
import { type ClockRange, mergeRanges } from './ranges.ts';
import { checkReceiptKey, noteReceipt, receiptReadAt } from './receipts.ts';
import { checkPlaceWritable } from './roots.ts';
import { StreamChecker } from './streams.ts';
import { type AcceptedMessage, type PolicyContext, PolicyError, type Verdict, refuse } from './verdict.ts';

export { type AcceptedMessage, type PolicyContext, type Refusal, type Verdict, refuse } from './verdict.ts';

/** An update as `Y.decodeUpdate` reads it: what the policy walks. */
export interface DecodedUpdate {
  structs: Struct[];
  ds: { clients: Map<number, ClockRange[]> };
}

/**
 * Decodes an update once for everything that reads it before it is applied (the policy, the
 * room's look-up of sealed authors): each decode costs most of an apply. Null: undecodable.
 */
export function decodeUpdate(update: Uint8Array): DecodedUpdate | null {
  try {
    return Y.decodeUpdate(update) as DecodedUpdate;
  } catch {
    return null;
  }
}

/**
 * Decides whether `update` (Yjs update v1) may be applied to `ctx.doc`. Never throws.
 * `decoded`: the update already decoded (`decodeUpdate`), read here and never changed.
 */
export function checkUpdate(ctx: PolicyContext, update: Uint8Array, decoded: DecodedUpdate | null = decodeUpdate(update)): Verdict {
  if (!decoded) return refuse('undecodable update', CloseCode.MALFORMED);
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
  private pendingReason: string | null = null;
  private walkBudget: number;
  private readonly messages: AcceptedMessage[] = [];
  private readonly duplicates: AcceptedMessage[] = [];
  private readonly receipts = new Map<string, number | null>();
  private readonly newIds = new Set<string>();
  /** Authors of the messages this update appends (edits and deletions may name them). */
  readonly newAuthors = new Map<string, string>();
  private readonly lifecycle: LifecycleNotes = { redact: new Set(), edited: new Set(), revert: new Set() };
  private readonly reactions: ReactionCounter;
  private readonly streams: StreamChecker;
  private readonly resolver: PlaceResolver;

  constructor(
    private readonly ctx: PolicyContext,
    private readonly structs: Struct[],
  ) {
    this.store = ctx.doc.store;
    this.walkBudget = ctx.deletionWalkBudget ?? Infinity;
    this.streams = new StreamChecker(ctx, this.newIds);
    this.reactions = new ReactionCounter(ctx);
    this.resolver = new PlaceResolver(this.store, ctx.roots, this.byClient, (client) => this.state(client));
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

  run(ds: Map<number, ClockRange[]>): Verdict {
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

    const clients: number[] = [];
    for (const [client, list] of this.byClient) {
      const state = this.state(client);
      if (list.some((s) => s.id.clock + s.length > state)) {
        if (this.ctx.isRelayClient?.(client)) {
          // Another relay instance's structs this one has not received yet (a lost fan-out
          // message, or a client that moved over): they are in the store, the room catches up.
          this.pending('structs of another relay instance');
          continue;
        }
        checkClientOwner(this.ctx, client, state);
        clients.push(client);
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
    return { ok: true, messages: this.messages, duplicates: this.duplicates, receipts: this.receipts, clients, redact: [...this.lifecycle.redact], edited: [...this.lifecycle.edited], revert: [...this.lifecycle.revert] };
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
    const place = this.resolver.placeOf(item);
    if ('missing' in place) return this.pending('missing parent or origin');
    if ('refused' in place) throw new PolicyError(place.refused);
    if ((place.root === Roots.canon || place.root === Roots.meta || place.root === Roots.owners) && this.ctx.otherRelays && state === 0) {
      // Canon of a relay instance this one never heard from: wait for the store catch-up
      // rather than refuse (a forgery stays held and is never applied).
      return this.pending('relay structs of an unknown instance');
    }
    checkPlaceWritable(place);
    // Both neighbours must be in the same list: Yjs takes the parent from the left one.
    if (item.origin && item.rightOrigin) {
      const right = this.resolver.placeOfId(item.rightOrigin);
      if ('missing' in right) return this.pending('missing right origin');
      if ('refused' in right) throw new PolicyError(right.refused);
      if (right.root !== place.root || right.sub !== place.sub) throw new PolicyError(refuse('origins in different parents'));
    }
    const offset = Math.max(0, state - item.id.clock);
    if (place.root === Roots.messages) {
      if (place.sub !== null) throw new PolicyError(refuse('keyed entry in messages'));
      if (content instanceof Y.ContentDeleted) throw new PolicyError(refuse('deleting a message is not allowed'));
      const arr = (content as Y.ContentAny).arr;
      for (let j = offset; j < arr.length; j++) {
        const { record, duplicate } = checkMessage(this.ctx, arr[j], this.newIds);
        this.newIds.add(record.id);
        this.newAuthors.set(record.id, record.authorId);
        (duplicate ? this.duplicates : this.messages).push({ record, client: item.id.client, clock: item.id.clock + j });
      }
    } else if (place.root === Roots.streams) {
      const r = this.streams.write(place.sub, content);
      if (r) throw new PolicyError(r);
    } else if (place.root === Roots.edits) {
      checkEditWrite(this.ctx, this, this.lifecycle, place.sub, content);
    } else if (place.root === Roots.redactions) {
      checkRedactionWrite(this.ctx, this, this.lifecycle, place.sub, content);
    } else if (place.root === Roots.reactions) {
      this.reactions.write(this.lifecycle, place.sub, content);
    } else {
      // receipts
      if (place.sub === null) throw new PolicyError(refuse('receipts entry without key'));
      checkReceiptKey(this.ctx, place.sub);
      noteReceipt(this.receipts, place.sub, content instanceof Y.ContentAny ? receiptReadAt(content.arr) : null);
    }
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
        this.checkDeletedPlace(relayPlace(s as Y.Item, this.ctx.roots));
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
      const place = this.resolver.placeOf(s as Y.Item);
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
      checkReceiptKey(this.ctx, place.sub);
      noteReceipt(this.receipts, place.sub, null);
      return;
    }
    if (place.root === Roots.messages) throw new PolicyError(refuse('deleting a message is not allowed'));
    if (place.root === Roots.edits) throw new PolicyError(refuse('deleting a revision is not allowed'));
    if (place.root === Roots.redactions) throw new PolicyError(refuse('a deletion is final'));
    if (place.root === Roots.reactions) return this.reactions.remove(place.sub);
    if (place.root === Roots.streams && place.sub !== null) {
      const r = this.streams.removeKnown(place.sub);
      if (r) throw new PolicyError(r);
      return;
    }
    checkPlaceWritable(place);
    throw new PolicyError(refuse('deletion not allowed'));
  }
}
