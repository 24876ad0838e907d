/**
 * What the app's views share: the signed-in user, the SDK client, open threads and the
 * current one, and the few actions every view may take. main.ts creates it; views read it
 * and never keep app state of their own beyond their DOM.
 */
import type { SkeinClient, ThreadView, ViewMessage } from '../index.ts';
import type { Announcer } from './announcer.ts';
import type { AppCapabilities } from './session.ts';

/** One open thread as the app holds it. */
export interface ThreadUi {
  view: ThreadView;
  /**
   * Text of this user's messages seen while pending: the relay deletes a rejected message
   * from the document (a tombstone; only its canon entry stays), but its author must still
   * see what was refused and why.
   */
  own: Map<string, { text: string; clientSentAt: number }>;
  /** Status per message id as last seen, to announce changes (null until first render). */
  known: Map<string, ViewMessage['status']> | null;
  /** System events already seen, to announce new ones (null until first render). */
  knownEvents?: Set<string> | null;
  off: () => void;
}

export interface App {
  readonly user: string;
  /** A guest: threads live in this browser only, with no relay (no sync state, no AT, no members). */
  readonly guest: boolean;
  readonly client: SkeinClient;
  readonly announcer: Announcer;
  /** Open threads by id (the newest ones and the current one). */
  readonly threads: Map<string, ThreadUi>;
  caps: AppCapabilities | null;
  /** The thread on screen, or null for the list alone. */
  currentId: string | null;
  getToken(): Promise<string>;
  scheduleRender(): void;
  /** Puts thread `id` on screen (null: back to the list). */
  show(id: string | null): void;
  titleOf(id: string): string;
  /** Shows an error under the open thread's composer. */
  showError(text: string): void;
  /** Moves focus to the open thread's composer. */
  focusComposer(): void;
}
