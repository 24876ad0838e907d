/** Skein browser SDK. */
export { createSkeinClient, type SkeinClient, type SkeinClientOptions } from './skein-client.ts';
export {
  ThreadView,
  SkeinError,
  type ViewMessage,
  type ThreadMetaView,
  type PresenceEntry,
  type SyncInfo,
} from './view/thread-view.ts';
export { deriveStatus, type MessageStatus, type StatusInfo } from './view/status.ts';
export { nextSyncState, initialSyncState, type SyncState, type SyncStateName, type SyncEvent, type Connection } from './view/sync-state.ts';
export { SkeinRequestError, type ThreadSummary, type Capabilities, type NewThreadInput } from './link/relay-api.ts';
export type { TelemetryEvent, TelemetryHook } from './telemetry.ts';
export type { ReadInfo } from './view/receipts.ts';
export type { Diagnostic } from './local/send-queue.ts';
export type { StreamHandle, ViewStream } from './view/stream.ts';
export { uploadGuestThreads } from './local/guest.ts';
export { type SystemEvent, orderedSystemEvents } from '../shared/membership.ts';
export { type ThreadRole, roleOf, canModerate, threadOwner } from '../shared/roles.ts';
