/**
 * Yjs client ids are not authenticated: a peer continuing another user's client id could
 * take the clocks that user is about to write (and the relay would then skip that user's
 * real structs as already known). A client id belongs to the user who first wrote with it,
 * for good: the relay records that in the `owners` root with the commit that first stores
 * the id's structs, so it survives the deletion of every one of them (a rejected message is
 * tombstoned). Documents from before that record fall back to the id's latest identifiable
 * structs: a message's author, a receipt key's user, a stream's author, or the relay itself
 * for canon/meta.
 */
import * as Y from 'yjs';
import { Roots, parseReceiptKey } from '../../../shared/schema.ts';
import { relayPlace } from './places.ts';
import { type PolicyContext, PolicyError, refuse } from './verdict.ts';

/** Throws unless `client` (at relay clock `state`) is unknown or the connected user's. */
export function checkClientOwner(ctx: PolicyContext, client: number, state: number): void {
  if (client === ctx.doc.clientID) throw new PolicyError(refuse('client id of the relay'));
  if (state === 0) return;
  const recorded = ctx.roots.owners.get(String(client));
  if (recorded !== undefined) {
    if (recorded !== ctx.userId) throw new PolicyError(refuse('client id belongs to another user'));
    return;
  }
  const structs = ctx.doc.store.clients.get(client)!;
  for (let i = structs.length - 1, seen = 0; i >= 0 && seen < 64; i--, seen++) {
    const s = structs[i];
    if (!(s instanceof Y.Item)) continue;
    const place = relayPlace(s, ctx.roots);
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
    } else if (place.root === Roots.canon || place.root === Roots.meta || place.root === Roots.owners) {
      throw new PolicyError(refuse('client id of the relay'));
    }
    if (owner === null) continue;
    if (owner !== ctx.userId) throw new PolicyError(refuse('client id belongs to another user'));
    return;
  }
}
