/**
 * The y-websocket wire format: encoders for the frames the relay sends and a decoder
 * for the frames it accepts. Message types match y-websocket's provider.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
export const SyncStep = { step1: 0, step2: 1, update: 2 } as const;

export type IncomingFrame =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  /** `step2`: the answer to the relay's sync step 1 (the peer's backlog), else a live update. */
  | { kind: 'update'; update: Uint8Array; step2: boolean }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'query-awareness' };

export class MalformedFrameError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedFrameError';
  }
}

/** Decodes one frame; throws MalformedFrameError for anything but a complete, known frame. */
export function decodeFrame(data: Uint8Array): IncomingFrame {
  const d = decoding.createDecoder(data);
  let frame: IncomingFrame;
  try {
    const type = decoding.readVarUint(d);
    if (type === MessageType.sync) {
      const step = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      if (step === SyncStep.step1) frame = { kind: 'sync-step1', stateVector: payload };
      else if (step === SyncStep.step2 || step === SyncStep.update) frame = { kind: 'update', update: payload, step2: step === SyncStep.step2 };
      else throw new MalformedFrameError(`unknown sync step ${step}`);
    } else if (type === MessageType.awareness) {
      frame = { kind: 'awareness', update: decoding.readVarUint8Array(d) };
    } else if (type === MessageType.queryAwareness) {
      frame = { kind: 'query-awareness' };
    } else {
      throw new MalformedFrameError(`unknown message type ${type}`);
    }
  } catch (e) {
    if (e instanceof MalformedFrameError) throw e;
    throw new MalformedFrameError('truncated frame');
  }
  if (decoding.hasContent(d)) throw new MalformedFrameError('trailing bytes after frame');
  return frame;
}

function frame(type: number, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, type);
  write(e);
  return encoding.toUint8Array(e);
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array =>
  frame(MessageType.sync, (e) => {
    encoding.writeVarUint(e, SyncStep.step1);
    encoding.writeVarUint8Array(e, stateVector);
  });

export const encodeSyncStep2 = (update: Uint8Array): Uint8Array =>
  frame(MessageType.sync, (e) => {
    encoding.writeVarUint(e, SyncStep.step2);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeUpdate = (update: Uint8Array): Uint8Array =>
  frame(MessageType.sync, (e) => {
    encoding.writeVarUint(e, SyncStep.update);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeAwareness = (update: Uint8Array): Uint8Array =>
  frame(MessageType.awareness, (e) => encoding.writeVarUint8Array(e, update));

/** One entry of an awareness update: client id, clock, state as JSON text. */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  state: string;
}

/** Splits an awareness update into its entries; throws on malformed input. */
export function decodeAwarenessEntries(update: Uint8Array): AwarenessEntry[] {
  const d = decoding.createDecoder(update);
  const n = decoding.readVarUint(d);
  const out: AwarenessEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ clientId: decoding.readVarUint(d), clock: decoding.readVarUint(d), state: decoding.readVarString(d) });
  }
  return out;
}

export function encodeAwarenessEntries(entries: AwarenessEntry[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.clientId);
    encoding.writeVarUint(e, x.clock);
    encoding.writeVarString(e, x.state);
  }
  return encoding.toUint8Array(e);
}
