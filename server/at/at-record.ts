/** Checks mirrored records against the Skein lexicon with @atproto/lexicon before any write. */
import { Lexicons, type LexiconDoc } from '@atproto/lexicon';
import { readFileSync } from 'node:fs';
import { MESSAGE_NSID, THREAD_NSID, isValidRecordKey, type AtMessageRecord, type AtThreadRecord } from '../../shared/at-lexicon.ts';

const load = (nsid: string) => JSON.parse(readFileSync(new URL(`../../shared/lexicons/${nsid}.json`, import.meta.url), 'utf8')) as LexiconDoc;
const lexicons = new Lexicons([load(MESSAGE_NSID), load(THREAD_NSID)]);

export type RecordCheck = { ok: true } | { ok: false; code: 'INVALID_RECORD' | 'INVALID_RECORD_KEY'; reason: string };

/** Validates a record and its key; the reason never contains the message text. */
export function checkRecord(rkey: string, record: AtMessageRecord | AtThreadRecord, nsid: string = MESSAGE_NSID): RecordCheck {
  if (!isValidRecordKey(rkey)) return { ok: false, code: 'INVALID_RECORD_KEY', reason: 'id is not a valid record key' };
  try {
    lexicons.assertValidRecord(nsid, record);
    return { ok: true };
  } catch (err) {
    return { ok: false, code: 'INVALID_RECORD', reason: err instanceof Error ? err.message : 'invalid record' };
  }
}
