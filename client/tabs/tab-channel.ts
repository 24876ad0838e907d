/**
 * Shares one thread's document and awareness between the tabs of a browser through a
 * BroadcastChannel, also while the relay is unreachable. Updates received from other
 * tabs are applied with TAB_ORIGIN, which the leader's WebsocketProvider forwards to the
 * relay like local edits (y-websocket's own BroadcastChannel would not forward them).
 */
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';

export const TAB_ORIGIN = Symbol('skein-tab');

/** What the leader tells the other tabs about its relay connection. */
export interface LeaderStatus {
  connection: 'offline' | 'connecting' | 'online';
  synced: boolean;
  lastSyncedAt: number | null;
}

type Frame =
  | { t: 'hello'; sv: Uint8Array }
  | { t: 'sv'; sv: Uint8Array }
  | { t: 'update'; u: Uint8Array }
  | { t: 'aw'; u: Uint8Array }
  | { t: 'status'; s: LeaderStatus }
  | { t: 'status?' }
  | { t: 'resync' }
  | { t: 'gen'; liveDoc: string; generation: number; baseSeq: number };

export class TabChannel {
  private readonly bc: BroadcastChannel | null;
  onStatus: (s: LeaderStatus) => void = () => {};
  onStatusRequest: () => void = () => {};
  onResyncRequest: () => void = () => {};
  /** Another tab learned that this generation was sealed and the thread lives on in `liveDoc`. */
  onGeneration: (g: { liveDoc: string; generation: number; baseSeq: number }) => void = () => {};

  constructor(
    name: string,
    private readonly doc: Y.Doc,
    private readonly awareness: awarenessProtocol.Awareness,
  ) {
    this.bc = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(name);
    if (!this.bc) return;
    this.bc.onmessage = (e: MessageEvent<Frame>) => this.receive(e.data);
    doc.on('update', this.onUpdate);
    awareness.on('update', this.onAwareness);
  }

  /** Pulls what the other tabs hold beyond this tab's state (call once the local copy is loaded). */
  start(): void {
    this.post({ t: 'hello', sv: Y.encodeStateVector(this.doc) });
    this.post({ t: 'status?' });
  }

  publishStatus(s: LeaderStatus): void {
    this.post({ t: 'status', s });
  }

  /** Tells the other tabs that this generation is sealed (they move to the new one too). */
  publishGeneration(g: { liveDoc: string; generation: number; baseSeq: number }): void {
    this.post({ t: 'gen', ...g });
  }

  /** Asks the other tabs for what this one misses, and the leader to resync. */
  requestResync(): void {
    this.post({ t: 'hello', sv: Y.encodeStateVector(this.doc) });
    this.post({ t: 'resync' });
  }

  close(): void {
    if (!this.bc) return;
    this.doc.off('update', this.onUpdate);
    this.awareness.off('update', this.onAwareness);
    this.bc.close();
  }

  private post(f: Frame): void {
    try {
      this.bc?.postMessage(f);
    } catch {
      /* channel closed */
    }
  }

  private receive(f: Frame): void {
    switch (f.t) {
      case 'hello':
        this.post({ t: 'update', u: Y.encodeStateAsUpdate(this.doc, f.sv) });
        this.post({ t: 'sv', sv: Y.encodeStateVector(this.doc) });
        this.sendAwareness();
        break;
      case 'sv': {
        const diff = Y.encodeStateAsUpdate(this.doc, f.sv);
        // An empty diff is 2 bytes (no structs, empty delete set).
        if (diff.byteLength > 2) this.post({ t: 'update', u: diff });
        break;
      }
      case 'update':
        Y.applyUpdate(this.doc, f.u, TAB_ORIGIN);
        break;
      case 'aw':
        awarenessProtocol.applyAwarenessUpdate(this.awareness, f.u, TAB_ORIGIN);
        break;
      case 'status':
        this.onStatus(f.s);
        break;
      case 'status?':
        this.onStatusRequest();
        break;
      case 'resync':
        this.onResyncRequest();
        break;
      case 'gen':
        this.onGeneration({ liveDoc: f.liveDoc, generation: f.generation, baseSeq: f.baseSeq });
        break;
    }
  }

  private sendAwareness(): void {
    const ids = [...this.awareness.getStates().keys()];
    if (ids.length) this.post({ t: 'aw', u: awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids) });
  }

  private onUpdate = (u: Uint8Array, origin: unknown): void => {
    if (origin !== TAB_ORIGIN) this.post({ t: 'update', u });
  };

  private onAwareness = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === TAB_ORIGIN) return;
    const changed = added.concat(updated, removed);
    this.post({ t: 'aw', u: awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed) });
  };
}
