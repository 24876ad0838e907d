/**
 * What the relay decided about this client's own messages, as canon entries arrive: telemetry
 * (confirmed with its latency, or failed with its code, each once) and the send queue (an
 * entry leaves it when the message is settled: failed or rejected, mirrored to AT, or simply
 * sequenced when AT is not shown).
 */
import type { CanonInfo } from '../../shared/schema.ts';
import type { SendQueue } from '../local/send-queue.ts';
import type { TelemetryHook } from '../telemetry.ts';

export class SendOutcomes {
  private reportedFailures = new Set<string>();

  constructor(
    private readonly threadId: string,
    private readonly queue: SendQueue,
    private readonly telemetry: TelemetryHook,
  ) {}

  /** `added`: the canon entry is new (not an update of its state). `showAt`: AT states are shown. */
  note(id: string, c: CanonInfo, added: boolean, showAt: boolean): void {
    const queued = this.queue.get(id);
    if (!queued) return;
    const at = Date.now();
    const { threadId } = this;
    if (!this.reportedFailures.has(id) && added) {
      this.telemetry({ name: 'message_sync_confirmed', threadId, messageId: id, seq: c.seq, latencyMs: at - queued.createdAt, at });
    }
    if (c.state === 'failed' || c.state === 'rejected') {
      if (!this.reportedFailures.has(id)) {
        this.reportedFailures.add(id);
        const code = c.error ?? c.state.toUpperCase();
        this.telemetry({ name: 'message_sync_failed', threadId, messageId: id, code, at });
        this.queue.recordFailure({ threadId, messageId: id, code, at });
      }
      this.queue.remove(id);
    } else if (c.state === 'confirmed' || !showAt) {
      this.queue.remove(id);
    }
  }
}
