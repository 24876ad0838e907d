/**
 * Telemetry hook events. They carry ids, the thread, timings and normalized codes,
 * never message text.
 */

export type TelemetryEvent =
  | { name: 'message_send_optimistic_created'; threadId: string; messageId: string; at: number }
  | { name: 'message_sync_confirmed'; threadId: string; messageId: string; seq: number; latencyMs: number | null; at: number }
  | { name: 'message_sync_failed'; threadId: string; messageId: string; code: string; at: number }
  | { name: 'message_reconcile_duplicate_suppressed'; threadId: string; messageId: string; at: number }
  /** The relay sealed the generation this view wrote into; `reappended` pending messages moved to the new one. */
  | { name: 'thread_generation_rebased'; threadId: string; generation: number; reappended: number; at: number }
  /** The user was removed from the thread (docs/design/membership.md): its local data was dropped. */
  | { name: 'thread_local_data_dropped'; threadId: string; at: number };

export type TelemetryHook = (event: TelemetryEvent) => void;

/** Calls the hook, never letting a faulty hook break the SDK. */
export function emitter(hook: TelemetryHook | undefined): TelemetryHook {
  if (!hook) return () => {};
  return (e) => {
    try {
      hook(e);
    } catch {
      /* a telemetry consumer's bug must not break sending */
    }
  };
}
