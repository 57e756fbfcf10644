// boundedJson(), the serialiser behind every control answer, checked against JSON.stringify with fast-check:
// what fits is exactly JSON.stringify's text; whatever the input, the text parses and stays within its budget.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { boundedJson, clipString } from '../src/control/bounded.js';

const roomy = { maxString: 1e9, maxBytes: 1e9, maxDepth: 1000 };

describe('boundedJson', () => {
  test('a JSON value that fits is serialised exactly as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(boundedJson(value, roomy)).toBe(JSON.stringify(value));
      }),
    );
  });

  test('any value, any budget from 512 bytes: the text parses and fits the budget', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true }),
        fc.integer({ min: 512, max: 8192 }),
        fc.integer({ min: 0, max: 300 }),
        (value, maxBytes, maxString) => {
          const text = boundedJson(value, { maxString, maxBytes });
          expect(text).toBeDefined();
          expect(Buffer.byteLength(text!)).toBeLessThanOrEqual(maxBytes);
          expect(() => JSON.parse(text!)).not.toThrow();
        },
      ),
    );
  });

  test('long strings keep their start and say how much was cut', () => {
    expect(clipString('abcdef', 3)).toBe('abc…[+3 chars]');
    expect(JSON.parse(boundedJson({ detail: 'D'.repeat(100) }, { maxString: 10, maxBytes: 1000 })!)).toEqual({
      detail: `${'D'.repeat(10)}…[+90 chars]`,
    });
  });

  test('what does not fit is omitted with a count, in arrays and objects', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ id: i, text: 'x'.repeat(50) }));
    const parsed = JSON.parse(boundedJson({ many, after: 1 }, { maxString: 100, maxBytes: 4096 })!) as {
      many: unknown[];
      '…'?: string;
    };
    expect(parsed.many.at(-1)).toMatch(/^\[\d+ more omitted\]$/);
    expect(parsed.many.length).toBeGreaterThan(10);
    expect(parsed['…']).toBe('[1 more fields omitted]');
  });
});
