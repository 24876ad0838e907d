// Streaming replies (issue #15, design: docs/design/streaming.md).
// Limits and the pure check the relay will apply to a write into a `streams` entry.

export type StreamStatus = 'streaming' | 'interrupted';

export interface StreamLimits {
  maxStreamBytes: number;
  maxStreamChunksPerSecond: number;
  maxOpenStreamsPerConnection: number;
  streamIdleMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxStreamBytes: 10000,
  maxStreamChunksPerSecond: 50,
  maxOpenStreamsPerConnection: 4,
  streamIdleMs: 30000,
};

/** Close codes reused from the sync protocol. */
export const STREAM_REFUSAL = { policy: 4402, size: 4413, rate: 4529 } as const;

export interface StreamWrite {
  writerId: string;
  authorId: string;
  status: StreamStatus | 'finished';
  beforeText: string;
  afterText: string;
}

/** Returns the close code that refuses the write, or null when it is allowed. */
export function checkStreamWrite(w: StreamWrite, limits: StreamLimits = DEFAULT_STREAM_LIMITS): number | null {
  if (w.writerId !== w.authorId) return STREAM_REFUSAL.policy;
  if (w.status !== 'streaming') return STREAM_REFUSAL.policy;
  if (!w.afterText.startsWith(w.beforeText)) return STREAM_REFUSAL.policy;
  if (new TextEncoder().encode(w.afterText).length > limits.maxStreamBytes) return STREAM_REFUSAL.size;
  return null;
}
