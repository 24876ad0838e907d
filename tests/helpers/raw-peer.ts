/**
 * A raw y-websocket peer on a plain `ws` socket: syncs a local Y.Doc with the relay and
 * then sends whatever bytes a test wants — forged updates, junk frames — so that the
 * relay's policy can be tested without a client library standing in the way.
 */
import * as decoding from 'lib0/decoding';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { encodeSyncStep1, encodeUpdate } from '../../server/room/sync-protocol.ts';
import { type ThreadRoots, threadRoots } from '../../shared/schema.ts';

export interface RawPeer {
  ws: WebSocket;
  doc: Y.Doc;
  roots: ThreadRoots;
  /** Resolves with the close code and reason the relay sent. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once the relay's full state has been applied to `doc`. */
  synced: Promise<void>;
  /** Sends the update a change to the local doc produces (applied locally as well). */
  forge(change: (roots: ThreadRoots, doc: Y.Doc) => void): Uint8Array;
  sendUpdate(update: Uint8Array): void;
  sendRaw(bytes: Uint8Array): void;
  /** Resolves once the socket is open. */
  opened: Promise<void>;
}

export interface RawPeerOptions {
  /** Send sync step 1 on open (default true). */
  sync?: boolean;
  /** Answer pings (default true); false plays a peer that is gone without closing. */
  autoPong?: boolean;
}

export function rawPeer(wsUrl: string, threadId: string, token: string, opts: RawPeerOptions = {}): RawPeer {
  const ws = new WebSocket(`${wsUrl}/${threadId}?token=${encodeURIComponent(token)}`, { autoPong: opts.autoPong ?? true });
  ws.binaryType = 'nodebuffer';
  const doc = new Y.Doc();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', () => {}); // a reset after the relay closes is expected
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  const synced = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const d = decoding.createDecoder(new Uint8Array(data));
      if (decoding.readVarUint(d) !== 0) return;
      const step = decoding.readVarUint(d);
      if (step === 1 || step === 2) {
        Y.applyUpdate(doc, decoding.readVarUint8Array(d), 'relay');
        if (step === 1) resolve();
      }
    });
    ws.once('close', () => reject(new Error('closed before sync')));
  });
  synced.catch(() => {});
  opened.catch(() => {});
  if (opts.sync !== false) void opened.then(() => ws.send(encodeSyncStep1(Y.encodeStateVector(doc))));
  const send = (b: Uint8Array) => {
    void opened.then(() => ws.readyState === WebSocket.OPEN && ws.send(b));
  };
  return {
    ws,
    doc,
    roots: threadRoots(doc),
    closed,
    synced,
    forge(change) {
      let out: Uint8Array | null = null;
      const f = (u: Uint8Array, origin: unknown) => {
        if (origin !== 'relay') out = u;
      };
      doc.on('update', f);
      doc.transact(() => change(threadRoots(doc), doc));
      doc.off('update', f);
      if (!out) throw new Error('change produced no update');
      send(encodeUpdate(out));
      return out;
    },
    sendUpdate: (u) => send(encodeUpdate(u)),
    sendRaw: send,
    opened,
  };
}
