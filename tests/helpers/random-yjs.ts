/**
 * Random Yjs histories for property tests of code that reads updates without Yjs
 * (server/store/update-walk.ts and its users): every content kind a V1 update can carry.
 */
import * as Y from 'yjs';

/** Deterministic PRNG (mulberry32), so a failure replays. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One random change to `doc`: messages (any-typed JSON with bigints and bytes), nested maps,
 * map keys set and deleted, deletions, rich text with formats and embeds, XML elements and
 * hooks, subdocuments. `tag` makes each change's values unique.
 */
export function randomEdit(doc: Y.Doc, r: () => number, tag: string): void {
  const messages = doc.getArray<unknown>('messages');
  const items = doc.getArray<Y.Map<unknown>>('items');
  const meta = doc.getMap<unknown>('meta');
  const text = doc.getText('text');
  const pick = r();
  if (pick < 0.25) {
    messages.push([{ id: tag, authorId: 'a', text: 'hi ✓ 😀 '.repeat(1 + Math.floor(r() * 4)), clientSentAt: Math.floor(r() * 1e12), n: r(), big: 2n ** 40n, arr: [1, null, true, 'x'], bytes: new Uint8Array([1, 2, 3]) }]);
  } else if (pick < 0.4) {
    const m = new Y.Map<unknown>();
    m.set('id', tag);
    m.set('text', 'x'.repeat(Math.floor(r() * 30)));
    items.push([m]);
  } else if (pick < 0.5 && items.length > 0) {
    const m = items.get(Math.floor(r() * items.length));
    if (r() < 0.7) m.set('text', `edit ${tag}`);
    else m.delete('text');
  } else if (pick < 0.6) {
    const key = `k${Math.floor(r() * 5)}`;
    if (r() < 0.75) meta.set(key, r() < 0.5 ? Math.floor(r() * 1000) : r() < 0.5 ? new Uint8Array([7, 8]) : { v: tag });
    else meta.delete(key);
  } else if (pick < 0.7 && messages.length > 0) {
    const at = Math.floor(r() * messages.length);
    messages.delete(at, Math.min(messages.length - at, 1 + Math.floor(r() * 3)));
  } else if (pick < 0.75 && items.length > 0) {
    items.delete(Math.floor(r() * items.length), 1);
  } else if (pick < 0.88) {
    const at = Math.floor(r() * (text.length + 1));
    const c = r();
    if (c < 0.5) text.insert(at, `t${tag}`, r() < 0.3 ? { bold: true } : undefined);
    else if (c < 0.65 && text.length > 0) text.format(0, Math.min(text.length, 3), { italic: r() < 0.5 ? true : null });
    else if (c < 0.75) text.insertEmbed(at, { image: tag });
    else if (text.length > 0) text.delete(Math.floor(r() * text.length), 1);
  } else if (pick < 0.95) {
    const xml = doc.getXmlFragment('xml');
    const el = new Y.XmlElement('p');
    el.setAttribute('class', tag);
    el.insert(0, [new Y.XmlText('x')]);
    xml.insert(0, [el]);
    if (r() < 0.2) xml.insert(0, [new Y.XmlHook('hook') as unknown as Y.XmlElement]); // typed out of the fragment's children, encoded as type ref 5
  } else {
    meta.set('sub', new Y.Doc({ guid: `sub-${tag}` }));
  }
}
