/**
 * One generation of a thread's live document in this tab: the Y.Doc, its y-indexeddb
 * persistence (database per generation) and its TabChannel. A ThreadView holds one at a
 * time and swaps it when the relay seals the generation (docs/design/windowed-threads.md).
 * Awareness is not per generation: it belongs to the view, so presence survives a roll.
 */
import type * as awarenessProtocol from 'y-protocols/awareness';
import { IndexeddbPersistence } from 'y-indexeddb';
import * as Y from 'yjs';
import { type ThreadRoots, threadRoots } from '../../shared/schema.ts';
import type { GenerationInfo } from '../link/relay-api.ts';
import { TabChannel } from '../tabs/tab-channel.ts';

/** Per-generation name of a database or channel: generation 0 keeps the name it always had. */
export function generationName(base: string, info: GenerationInfo): string {
  return info.generation > 0 ? `${base}~${info.generation}` : base;
}

export class LiveGeneration {
  readonly doc = new Y.Doc();
  readonly roots: ThreadRoots = threadRoots(this.doc);
  readonly persistence: IndexeddbPersistence;
  readonly tabs: TabChannel;
  readonly dbName: string;
  /** Resolves once the local copy of this generation is loaded from IndexedDB. */
  readonly loaded: Promise<void>;

  constructor(
    readonly info: GenerationInfo,
    baseDbName: string,
    baseChannelName: string,
    awareness: awarenessProtocol.Awareness,
  ) {
    // y-websocket names this client in awareness by the document's client id: share the view's.
    this.doc.clientID = awareness.clientID;
    this.dbName = generationName(baseDbName, info);
    this.persistence = new IndexeddbPersistence(this.dbName, this.doc);
    this.tabs = new TabChannel(generationName(baseChannelName, info), this.doc, awareness);
    this.loaded = this.persistence.whenSynced.then(() => {});
  }

  /** The live document's own `baseSeq` (the relay writes it into `meta`), else the listed one. */
  get baseSeq(): number {
    const b = this.roots.meta.get('baseSeq');
    return typeof b === 'number' ? Math.max(b, this.info.baseSeq) : this.info.baseSeq;
  }

  /** Stops sharing and frees the document; the local copy stays in IndexedDB. */
  async dispose(): Promise<void> {
    this.tabs.close();
    await this.persistence.destroy();
    this.doc.destroy();
  }
}
