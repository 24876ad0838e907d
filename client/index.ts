/** Skein browser SDK. */
export { createSkeinClient, type SkeinClient, type SkeinClientOptions } from './skein-client.ts';
export {
  ThreadView,
  SkeinError,
  type ViewMessage,
  type ThreadMetaView,
  type PresenceEntry,
  type SyncInfo,
} from './thread-view.ts';
export { deriveStatus, type MessageStatus, type StatusInfo } from './status.ts';
export { nextSyncState, initialSyncState, type SyncState, type SyncStateName, type SyncEvent, type Connection } from './sync-state.ts';
export { SkeinRequestError, type ThreadSummary, type Capabilities, type NewThreadInput } from './relay-api.ts';
export type { TelemetryEvent, TelemetryHook } from './telemetry.ts';
export type { ReadInfo } from './receipts.ts';
export type { Diagnostic } from './send-queue.ts';
export type { StreamHandle, ViewStream } from './stream.ts';
export { uploadGuestThreads } from './guest.ts';
