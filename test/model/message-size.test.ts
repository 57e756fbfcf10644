// The size check on every message: its cheap bound must never let through what serializing would find too large,
// and must agree with serializing on what is too large.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { bytesOverLimit, messageBytes } from '../../src/protocol.js';

describe('bytesOverLimit', () => {
  test('agrees with the serialized size for any JSON value and limit', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 2000 }), (value, limit) => {
        const exact = messageBytes(value)!;
        const over = bytesOverLimit(value, limit);
        if (exact > limit) expect(over).toBe(exact);
        else expect(over).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  test('anything else: too large exactly when serializing says so, Infinity when it cannot serialize', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withTypedArray: true, withNullPrototype: true }),
        fc.integer({ min: 0, max: 2000 }),
        (value, limit) => {
          const exact = messageBytes(value);
          const over = bytesOverLimit(value, limit);
          if (exact === undefined)
            expect(over === undefined || over === Infinity).toBe(
              value === undefined ? over === undefined : over === Infinity,
            );
          else if (exact > limit) expect(over).toBe(exact);
          else expect(over).toBeUndefined();
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('escapes and multi-byte text are counted as sent', () => {
    const text = '"\\\u0001é😀'.repeat(100);
    const exact = messageBytes({ text })!;
    expect(bytesOverLimit({ text }, exact)).toBeUndefined();
    expect(bytesOverLimit({ text }, exact - 1)).toBe(exact);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(bytesOverLimit(cyclic, 1_000_000)).toBe(Infinity);
    expect(bytesOverLimit(undefined, 0)).toBeUndefined();
  });
});
