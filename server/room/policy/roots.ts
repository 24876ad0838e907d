/**
 * Which roots a peer may write: messages, receipts, streams, edits, redactions and reactions
 * are the peers' (each with its own rules); canon, meta, owners and (system) events are the
 * relay's own; nested types and unknown roots are no one's.
 */
import { Roots } from '../../../shared/schema.ts';
import { EVENTS_ROOT } from '../../../shared/membership.ts';
import { PolicyError, refuse } from './verdict.ts';

/** Throws the refusal for a place a peer may not write. */
export function checkPlaceWritable(place: { root: string; sub: string | null }): void {
  if (place.root === Roots.messages || place.root === Roots.receipts || place.root === Roots.streams) return;
  if (place.root === Roots.edits || place.root === Roots.redactions || place.root === Roots.reactions) return;
  if (place.root === Roots.canon || place.root === Roots.meta || place.root === Roots.owners || place.root === EVENTS_ROOT) {
    throw new PolicyError(refuse(`${place.root} is written by the relay only`));
  }
  if (place.root === '') throw new PolicyError(refuse('nested Y types are not allowed'));
  throw new PolicyError(refuse('unknown root type'));
}
