/**
 * The worker thread of backlog-offload.ts: cuts large offline backlogs (backlog-precut.ts)
 * off the relay's event loop, one at a time, in the order they were posted.
 */
import { parentPort } from 'node:worker_threads';
import { precutBacklog } from './backlog-precut.ts';
import type { PrecutRequest, PrecutResponse } from './backlog-offload.ts';

parentPort!.on('message', (m: PrecutRequest) => {
  const result = precutBacklog(m.backlog, m.stateVector, m.keep, m.maxBytes);
  const buf = result.update.buffer as ArrayBuffer;
  // Hand the part back without a copy when it owns its whole buffer.
  const transfer = result.update.byteOffset === 0 && result.update.byteLength === buf.byteLength ? [buf] : [];
  parentPort!.postMessage({ id: m.id, result } satisfies PrecutResponse, transfer);
});
