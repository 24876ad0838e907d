/**
 * Wire format of fan-out messages on Redis: a 4-byte header length, a JSON header, then
 * the binary payload (the Yjs or awareness update) as is — no base64 on the hot path.
 */
import type { ThreadFanoutMessage } from './fanout.ts';

/** Encodes a thread message for PUBLISH. */
export function encodeThreadMessage(msg: ThreadFanoutMessage): Buffer {
  const { update, ...header } = msg as ThreadFanoutMessage & { update?: Uint8Array };
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, update ?? new Uint8Array(0)]);
}

/** Decodes a message from `encodeThreadMessage`; null when it is not one (never throws). */
export function decodeThreadMessage(buf: Buffer): ThreadFanoutMessage | null {
  try {
    const n = buf.readUInt32BE(0);
    const header = JSON.parse(buf.subarray(4, 4 + n).toString()) as ThreadFanoutMessage;
    if (header.kind === 'update' || header.kind === 'awareness') {
      // A copy: the receive buffer may be pooled.
      return { ...header, update: new Uint8Array(buf.subarray(4 + n)) } as ThreadFanoutMessage;
    }
    return header.kind === 'sealed' || header.kind === 'refresh' || header.kind === 'gap' || header.kind === 'position' ? header : null;
  } catch {
    return null;
  }
}
