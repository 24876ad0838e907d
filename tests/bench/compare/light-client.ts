/**
 * The light driver's client: a raw WebSocket that speaks the y-websocket or the Hocuspocus
 * sync protocol without holding the thread's Y.Doc. It authors its own messages in a small
 * doc of its own (each insert chains after its previous one, as a stock client's append does
 * after whatever it last saw) and finds other members' messages by decoding each incoming
 * update's structs (`Y.decodeUpdate`), without integrating them. A stock client integrates
 * every update into the whole thread, which made the driver's core the bottleneck at R5: with
 * this one p99 and saturation measure the server.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as Y from 'yjs';

export interface SentMessage {
  id: string;
  authorId: string;
  text: string;
  clientSentAt: number;
}

const SYNC = 0;
const AUTH = 2;
const STEP1 = 0;
const STEP2 = 1;
const UPDATE = 2;

export class LightClient {
  /** Resolves when the server's sync step 2 (the thread's backlog) has arrived. */
  readonly synced: Promise<void>;
  private readonly own = new Y.Doc();
  private readonly ws: WebSocket;
  /** Struct ids already reported: a merged frame may repeat a message already seen. */
  private readonly seen = new Set<string>();
  private resolveSynced!: () => void;

  constructor(
    url: string,
    /** Hocuspocus's protocol prefixes every frame with the document name; null for y-websocket. */
    private readonly docName: string | null,
    private readonly userId: string,
    private readonly onMessage: (m: SentMessage) => void,
  ) {
    this.synced = new Promise((r) => (this.resolveSynced = r));
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('open', () => {
      if (docName !== null) {
        // Hocuspocus: authenticate (empty token, as its provider sends without one), then sync.
        this.send((e) => {
          encoding.writeVarUint(e, AUTH);
          encoding.writeVarUint(e, 0);
          encoding.writeVarString(e, '');
          encoding.writeVarString(e, '4.7.0');
        });
      }
      this.sendSync(STEP1, Y.encodeStateVector(this.own));
    });
    this.ws.on('message', (data: Buffer) => this.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    this.own.on('update', (u: Uint8Array) => this.sendSync(UPDATE, u));
  }

  /** Appends one message (an update of this client's own doc, sent at once). */
  post(m: SentMessage): void {
    const a = this.own.getArray<SentMessage>('messages');
    a.insert(a.length, [m]);
  }

  destroy(): void {
    this.ws.terminate();
    this.own.destroy();
  }

  private send(write: (e: encoding.Encoder) => void): void {
    const e = encoding.createEncoder();
    if (this.docName !== null) encoding.writeVarString(e, this.docName);
    write(e);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encoding.toUint8Array(e));
  }

  private sendSync(step: number, payload: Uint8Array): void {
    this.send((e) => {
      encoding.writeVarUint(e, SYNC);
      encoding.writeVarUint(e, step);
      encoding.writeVarUint8Array(e, payload);
    });
  }

  private receive(frame: Uint8Array): void {
    const d = decoding.createDecoder(frame);
    if (this.docName !== null) decoding.readVarString(d);
    if (decoding.readVarUint(d) !== SYNC) return;
    const step = decoding.readVarUint(d);
    const payload = decoding.readVarUint8Array(d);
    if (step === STEP1) {
      this.sendSync(STEP2, Y.encodeStateAsUpdate(this.own, payload));
      return;
    }
    this.scan(payload);
    if (step === STEP2) this.resolveSynced();
  }

  private scan(update: Uint8Array): void {
    for (const s of Y.decodeUpdate(update).structs) {
      if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentAny)) continue;
      const arr = s.content.arr;
      for (let i = 0; i < arr.length; i++) {
        const m = arr[i] as SentMessage | null;
        if (!m || typeof m !== 'object' || typeof m.clientSentAt !== 'number' || m.authorId === this.userId) continue;
        const key = `${s.id.client}:${s.id.clock + i}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        this.onMessage(m);
      }
    }
  }
}
