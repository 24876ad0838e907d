/**
 * How a message status is shown: an icon, a short visible text and a fuller accessible
 * label, so that no status is told by colour alone.
 */
import type { ViewMessage } from '../index.ts';

export interface StatusPresentation {
  /** Stable name for styling and tests: pending | sent | confirmed | failed | rejected, or local (a guest's). */
  kind: ViewMessage['status'] | 'local';
  icon: string;
  text: string;
  /** What screen readers hear after `text` (and the tooltip). */
  detail: string;
  /** `text` and `detail` together: the full accessible label. */
  label: string;
}

function make(kind: StatusPresentation['kind'], icon: string, text: string, detail: string): StatusPresentation {
  return { kind, icon, text, detail, label: `${text}: ${detail}` };
}

const REASONS: Record<string, string> = {
  THREAD_ARCHIVED: 'the thread is archived',
  NOT_MEMBER: 'you are not a member of this thread',
  AT_BAD_REQUEST: 'the AT server refused the record as invalid',
  AT_AUTH_FAILED: 'the relay could not sign in to its AT server',
  AT_PAYLOAD_TOO_LARGE: 'the message is too large for the AT server',
  AT_REJECTED: 'the AT server rejected the record',
};

/** Plain-language reason for a normalized error code. */
export function reasonText(code: string | undefined): string {
  if (!code) return 'unknown reason';
  return REASONS[code] ?? code.toLowerCase().replace(/_/g, ' ');
}

/** What a degraded AT bridge means for the reader (capabilities `atproto.reason`). */
const BRIDGE_REASONS: Record<string, string> = {
  starting: 'the relay is still connecting to its AT server',
  not_logged_in: 'the relay is not signed in to its AT server',
  queue_lagging: 'mirroring is running behind',
  'pds_failing:network': 'the AT server cannot be reached',
  'pds_failing:server': 'the AT server is answering with errors',
  'pds_failing:rate_limited': 'the AT server is limiting how fast the relay may write',
  'pds_failing:auth': 'the AT server refuses the relay’s sign-in',
  'pds_failing:invalid': 'the AT server refuses some records as invalid',
  'pds_failing:too_large': 'the AT server refuses records as too large',
  'pds_failing:rejected': 'the AT server rejects records',
};

/** Plain-language reason for a degraded AT bridge; never a raw code. */
export function bridgeReasonText(reason: string | undefined): string {
  if (!reason) return 'the AT server is not keeping up';
  return BRIDGE_REASONS[reason] ?? 'the AT server is not keeping up';
}

export function presentStatus(m: ViewMessage, online: boolean, guest = false): StatusPresentation {
  // A guest's message is never sent anywhere: it is saved, not waiting.
  if (guest && m.status === 'pending') return make('local', '⌂', 'Saved in this browser', 'guest threads stay in this browser until you sign in and upload them');
  switch (m.status) {
    case 'pending':
      return online
        ? make('pending', '◌', 'Sending', 'not yet stored by the relay')
        : make('pending', '◌', 'Waiting to send', 'you are offline; it goes out when the connection returns');
    case 'sent':
      return make('sent', '✓', 'Sent', 'stored by the relay');
    case 'confirmed':
      // An ingested message is confirmed by nature: it is an AT record that came in.
      if (m.origin) return make('confirmed', '↓', 'From AT', `received from the AT repo ${m.origin.did}`);
      return make('confirmed', '✓✓', 'Mirrored to AT', `published as the AT Protocol record ${m.atUri ?? ''}`.trim());
    case 'failed':
      return make('failed', '⚠', 'Mirror failed', `mirroring to AT failed (${reasonText(m.error)}); the message is still stored by the relay`);
    case 'rejected':
      return make('rejected', '✕', 'Not delivered', `the relay refused it: ${reasonText(m.error)}`);
  }
}
