/**
 * Status of a message as the user sees it, derived from its canonical info and from
 * whether AT mirroring is shown at all (DESIGN.md: with mirroring off, messages stop
 * at `sent` and no AT state is shown).
 */
import type { CanonInfo } from '../../shared/schema.ts';

export type MessageStatus = 'pending' | 'sent' | 'confirmed' | 'failed' | 'rejected';

export interface StatusInfo {
  status: MessageStatus;
  /** Normalized error code for `failed` / `rejected`. */
  error?: string;
  /** AT record reference, only when AT state is shown. */
  atUri?: string;
  atCid?: string;
}

/**
 * @param canon the relay's canonical info for the message, undefined while pending
 * @param showAt true when the relay's write bridge is on and the thread is mirrored
 */
export function deriveStatus(canon: CanonInfo | undefined, showAt: boolean): StatusInfo {
  if (!canon) return { status: 'pending' };
  if (canon.state === 'rejected') return { status: 'rejected', error: canon.error ?? 'REJECTED' };
  if (!showAt) return { status: 'sent' };
  switch (canon.state) {
    case 'confirmed': {
      const s: StatusInfo = { status: 'confirmed' };
      if (canon.atUri) s.atUri = canon.atUri;
      if (canon.atCid) s.atCid = canon.atCid;
      return s;
    }
    case 'failed':
      return { status: 'failed', error: canon.error ?? 'UNKNOWN' };
    default:
      return { status: 'sent' };
  }
}
