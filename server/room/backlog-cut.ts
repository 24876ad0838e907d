/**
 * Taking part of an offline backlog (issue 28): a peer's first sync step 2 may hold more new
 * messages than its user's backlog budget (thread-meters.ts). The relay then applies a prefix
 * of it — the first `keep` messages in append order, with everything of their clients written
 * before them — and closes the connection with a retry delay; the peer's next step 2 carries
 * the rest (the Yjs diff against the relay's state), so nothing honest is lost.
 *
 * A prefix is cut per client at a clock: every struct of a client below its cut is kept (an
 * item straddling it is sliced), and deletions of what was cut are left for the next step 2.
 * Clocks of one client only grow, so a per-client prefix never lacks its own dependencies;
 * the caller checks the prefix against the policy again all the same.
 */
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import type { AcceptedMessage } from './policy/update-policy.ts';

const idKey = (client: number, clock: number) => `${client}:${clock}`;

/**
 * Per-client cut clocks that keep the first `keep` of `messages` in append order (each
 * message after the one it was inserted after). Clients with nothing cut are absent.
 */
export function backlogCuts(update: Uint8Array, messages: ReadonlyArray<Pick<AcceptedMessage, 'client' | 'clock'>>, keep: number): Map<number, number> {
  const isMessage = new Set(messages.map((m) => idKey(m.client, m.clock)));
  // The element each new message element was inserted after.
  const pred = new Map<string, string | null>();
  for (const s of Y.decodeUpdate(update).structs) {
    if (!(s instanceof Y.Item)) continue;
    for (let j = 0; j < s.length; j++) {
      const k = idKey(s.id.client, s.id.clock + j);
      if (!isMessage.has(k)) continue;
      const before = j > 0 ? idKey(s.id.client, s.id.clock + j - 1) : s.origin ? idKey(s.origin.client, s.origin.clock) : null;
      pred.set(k, before);
    }
  }
  // Depth: how many new messages come before it on its chain (iterative: chains are long).
  const depth = new Map<string, number>();
  const depthOf = (start: string): number => {
    const chain: string[] = [];
    let k: string | null = start;
    let base = -1;
    while (k !== null && isMessage.has(k)) {
      const known = depth.get(k);
      if (known !== undefined) {
        base = known;
        break;
      }
      chain.push(k);
      k = pred.get(k) ?? null;
    }
    for (let i = chain.length - 1; i >= 0; i--) depth.set(chain[i]!, ++base);
    return depth.get(start)!;
  };
  const ordered = messages
    .map((m) => ({ m, d: depthOf(idKey(m.client, m.clock)) }))
    .sort((a, b) => a.d - b.d || a.m.client - b.m.client || a.m.clock - b.m.clock);
  const cuts = new Map<number, number>();
  for (const { m } of ordered.slice(Math.max(0, keep))) {
    const cut = cuts.get(m.client);
    if (cut === undefined || m.clock < cut) cuts.set(m.client, m.clock);
  }
  return cuts;
}

/** `update` (Yjs v1) without any struct of a client at or past its cut clock. */
export function prefixUpdate(update: Uint8Array, cuts: Map<number, number>): Uint8Array {
  const { structs, ds } = Y.decodeUpdate(update);
  const byClient = new Map<number, Array<Y.Item | Y.GC | Y.Skip>>();
  for (const s of structs) {
    const cut = cuts.get(s.id.client) ?? Infinity;
    if (s.id.clock >= cut) continue;
    let kept = s as Y.Item | Y.GC | Y.Skip;
    if (s.id.clock + s.length > cut) {
      const n = cut - s.id.clock;
      if (s instanceof Y.Item) {
        // A decoded item is ours alone: cut its content in place.
        s.content.splice(n);
        s.length = n;
      } else {
        kept = s instanceof Y.GC ? new Y.GC(s.id, n) : new Y.Skip(s.id, n);
      }
    }
    let list = byClient.get(s.id.client);
    if (!list) byClient.set(s.id.client, (list = []));
    list.push(kept);
  }
  const encoder = new Y.UpdateEncoderV1();
  encoding.writeVarUint(encoder.restEncoder, byClient.size);
  for (const [client, list] of byClient) {
    encoding.writeVarUint(encoder.restEncoder, list.length);
    encoder.writeClient(client);
    encoding.writeVarUint(encoder.restEncoder, list[0]!.id.clock);
    for (const s of list) s.write(encoder, 0);
  }
  // Deletions of cut structs wait for the next step 2, which carries those structs.
  const ranges = new Map<number, Array<{ clock: number; len: number }>>();
  for (const [client, items] of ds.clients) {
    const cut = cuts.get(client) ?? Infinity;
    const kept = items.filter((r) => r.clock < cut).map((r) => ({ clock: r.clock, len: Math.min(r.len, cut - r.clock) }));
    if (kept.length) ranges.set(client, kept);
  }
  encoding.writeVarUint(encoder.restEncoder, ranges.size);
  for (const [client, items] of ranges) {
    encoder.resetDsCurVal();
    encoding.writeVarUint(encoder.restEncoder, client);
    encoding.writeVarUint(encoder.restEncoder, items.length);
    for (const r of items) {
      encoder.writeDsClock(r.clock);
      encoder.writeDsLen(r.len);
    }
  }
  return encoder.toUint8Array();
}
