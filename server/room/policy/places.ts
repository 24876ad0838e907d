/**
 * Where an item of an update lives (which root, which map key), as Yjs will resolve it on
 * integration: from its explicit parent, else from the parent of its origin (or right
 * origin), looked up at the relay or further in the same update.
 */
import * as Y from 'yjs';
import { CloseCode } from '../../../shared/errors.ts';
import { Roots, type ThreadRoots } from '../../../shared/schema.ts';
import { type Refusal, refuse } from './verdict.ts';

export type Struct = Y.Item | Y.GC | Y.Skip;

/** Where an item lives: a root type (by name) and its map key, or why that is unknowable. */
export type Place =
  | { root: string; sub: string | null }
  | { missing: true }
  | { refused: Refusal };

/** Maps a root name from the wire to the place name used by the policy. */
export function knownRoot(name: string): string {
  return (Object.values(Roots) as string[]).includes(name) ? name : `other:${name}`;
}

/** Place of an item the relay has. Root name '' stands for a nested type. */
export function relayPlace(item: Y.Item, roots: ThreadRoots): Place {
  const parent = item.parent as Y.AbstractType<unknown> | null;
  if (!parent) return { refused: refuse('item without parent') };
  const sub = item.parentSub;
  if (parent === roots.messages) return { root: Roots.messages, sub };
  if (parent === roots.receipts) return { root: Roots.receipts, sub };
  if (parent === roots.canon) return { root: Roots.canon, sub };
  if (parent === roots.meta) return { root: Roots.meta, sub };
  if (parent === roots.streams) return { root: Roots.streams, sub };
  if (parent === roots.owners) return { root: Roots.owners, sub };
  if (parent === roots.edits) return { root: Roots.edits, sub };
  if (parent === roots.redactions) return { root: Roots.redactions, sub };
  if (parent === roots.reactions) return { root: Roots.reactions, sub };
  if (parent._item !== null) return { root: '', sub };
  return { root: `other:${Y.findRootTypeKey(parent)}`, sub };
}

/** Resolves places for one update, caching the place of every item on a resolved chain. */
export class PlaceResolver {
  private readonly places = new Map<Struct, Place>();

  constructor(
    private readonly store: Y.Doc['store'],
    private readonly roots: ThreadRoots,
    /** The update's structs per client, in clock order (filled before the first lookup). */
    private readonly byClient: Map<number, Struct[]>,
    /** The relay's clock for a client. */
    private readonly state: (client: number) => number,
  ) {}

  /** Place of the struct containing `id`, looked up at the relay, then in this update. */
  placeOfId(id: Y.ID): Place {
    if (id.clock < this.state(id.client)) {
      const s = Y.getItem(this.store, id) as Struct;
      if (s instanceof Y.GC) return { refused: refuse('origin is garbage-collected') };
      return relayPlace(s as Y.Item, this.roots);
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
  placeOf(start: Y.Item): Place {
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
