import { describe, expect, it } from 'vitest';
import { displayOrder } from '../../shared/ordering.ts';
import { parseReceiptKey, receiptKey, validateMessageRecord, validateReceipt } from '../../shared/schema.ts';
import { validateSequence } from '../../shared/sequence-validation.ts';
import type { CanonInfo, MessageRecord } from '../../shared/schema.ts';

const msg = (id: string, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  id,
  authorId: 'u1',
  text: 't',
  clientSentAt: 1,
  ...extra,
});

describe('validateSequence', () => {
  it.each([
    [[1, 2, 3], 3, 'validated'],
    [[3, 1, 2, 2], 3, 'validated'],
    [[5, 6, 7], 7, 'validated'],
    [[], 0, 'validated'],
    [[1, 2, 3], undefined, 'backend_seq_unknown'],
    [[], null, 'backend_seq_unknown'],
    [[], 4, 'no_messages'],
    [[1, 3], 3, 'gap_detected'],
    [[1, 2], 3, 'sequence_mismatch'],
    [[1, 2, 3, 4], 3, 'sequence_mismatch'],
  ] as const)('%j with backend %s → %s', (seqs, backend, expected) => {
    expect(validateSequence(seqs, backend)).toBe(expected);
  });
});

describe('displayOrder', () => {
  it('orders canonical messages by seq, then pending ones in local order, dropping duplicate ids', () => {
    const canon = new Map<string, CanonInfo>([
      ['b', { seq: 1, sentAt: 10, state: 'sent' }],
      ['a', { seq: 2, sentAt: 10, state: 'confirmed' }],
    ]);
    const out = displayOrder([msg('p2'), msg('a'), msg('p1'), msg('b'), msg('a')], (id) => canon.get(id));
    expect(out.map((m) => m.id)).toEqual(['b', 'a', 'p2', 'p1']);
    expect(out[1]!.canon?.state).toBe('confirmed');
    expect(out[2]!.canon).toBeUndefined();
  });
});

describe('validateMessageRecord', () => {
  it('accepts a well-formed record', () => {
    expect(validateMessageRecord(msg('01HXYZ', { replyTo: 'abc' }))).toEqual({ ok: true });
  });
  it.each([
    ['not an object', 'hello'],
    ['array', [1]],
    ['bad id charset', msg('has space')],
    ['id too long', msg('x'.repeat(65))],
    ['empty author', msg('a', { authorId: '' })],
    ['author with separator', msg('a', { authorId: 'a|b' })],
    ['text not string', { ...msg('a'), text: 5 }],
    ['clientSentAt NaN', msg('a', { clientSentAt: NaN })],
    ['unknown field', { ...msg('a'), extra: true }],
    ['bad replyTo', msg('a', { replyTo: 'no spaces allowed' })],
  ])('refuses %s', (_name, value) => {
    expect(validateMessageRecord(value).ok).toBe(false);
  });
  it('refuses text over the limit without echoing it', () => {
    const r = validateMessageRecord(msg('a', { text: 'secret'.repeat(10) }), 10);
    expect(r).toEqual({ ok: false, reason: 'text too long' });
  });
});

describe('receipts', () => {
  it('round-trips keys and validates values', () => {
    expect(parseReceiptKey(receiptKey('m1', 'alice'))).toEqual({ messageId: 'm1', userId: 'alice' });
    expect(parseReceiptKey('nokey')).toBeNull();
    expect(parseReceiptKey('|alice')).toBeNull();
    expect(validateReceipt({ readAt: 5 }).ok).toBe(true);
    expect(validateReceipt({ readAt: -1 }).ok).toBe(false);
    expect(validateReceipt({ readAt: 5, x: 1 }).ok).toBe(false);
  });
});
