/** The policy of the `messages` root: each new record is valid, the peer's own, and new. */
import { CloseCode } from '../../../shared/errors.ts';
import { type MessageRecord, validateMessageRecord } from '../../../shared/schema.ts';
import { type PolicyContext, PolicyError, refuse } from './verdict.ts';

/**
 * Checks one appended message record; `newIds` are the ids this update appended before it.
 * Returns the record (`duplicate`: the peer's own message appended again under a known id,
 * which the relay deletes after the commit), or throws PolicyError.
 */
export function checkMessage(ctx: PolicyContext, value: unknown, newIds: ReadonlySet<string>): { record: MessageRecord; duplicate: boolean } {
  const v = validateMessageRecord(value, ctx.maxTextLength);
  if (!v.ok) {
    throw new PolicyError(refuse(`invalid message: ${v.reason}`, v.reason === 'text too long' ? CloseCode.TOO_LARGE : CloseCode.POLICY_VIOLATION));
  }
  const record = value as MessageRecord;
  if (record.authorId !== ctx.userId) throw new PolicyError(refuse('authorId is not the connected user'));
  if (newIds.has(record.id)) throw new PolicyError(refuse('duplicate message id'));
  if (ctx.isKnownMessageId(record.id)) {
    if (ctx.authorOfKnownMessage?.(record.id) !== ctx.userId) throw new PolicyError(refuse('duplicate message id'));
    return { record, duplicate: true };
  }
  return { record, duplicate: false };
}
