import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { isExact, parseJsonText } from '../../src/fhir/json-body.ts';

/** The 400's text and expression, or 'ok' with the parsed value's JSON. */
function outcomeOf(text: string, maxDepth?: number): { text: string; at?: string } | { ok: string } {
  try {
    return { ok: JSON.stringify(parseJsonText(text, maxDepth)) };
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    const issue = err.outcome.issue?.[0];
    return { text: issue?.details?.text ?? '', at: issue?.expression?.[0] };
  }
}

describe('parseJsonText: the one JSON reader for request bodies', () => {
  it.each([
    // Strings are skipped whole, so what is inside them is never read as structure or numbers.
    ['{"a":"[[[[{{{{ 1e-400 2e999"}', { ok: '{"a":"[[[[{{{{ 1e-400 2e999"}' }],
    ['{"a":"quote \\" then [[[ 1e-400","b":1}', { ok: '{"a":"quote \\" then [[[ 1e-400","b":1}' }],
    ['{"a":"ends in a backslash \\\\","b":1e-400}', { text: expect.stringMatching(/1e-400 cannot be represented/) }],
    ['{"a":"\\\\\\"[","b":[1,2]}', { ok: '{"a":"\\\\\\"[","b":[1,2]}' }],
    ['{"v":0.1,"w":-12.5e2,"x":123456789012345}', { ok: '{"v":0.1,"w":-1250,"x":123456789012345}' }],
    ['{"v":18446744073709551616}', { text: expect.stringMatching(/cannot be represented exactly/) }],
    ['{"__proto__":{"x":1}}', { text: 'The property name __proto__ is not allowed', at: '__proto__' }],
    // Written with escapes, the name is the same once parsed.
    [
      '{"a":[{"b":1},{"\\u005f_proto__":1}]}',
      { text: 'The property name __proto__ is not allowed', at: 'a[1].__proto__' },
    ],
    [
      '{"entry":[[{"constructor":1}]]}',
      { text: 'The property name constructor is not allowed', at: 'entry[0][0].constructor' },
    ],
    ['[{"prototype":1}]', { text: 'The property name prototype is not allowed', at: '[0].prototype' }],
    // Such words as values are fine.
    ['{"text":"__proto__ constructor prototype"}', { ok: '{"text":"__proto__ constructor prototype"}' }],
    ['{"a":"unterminated', { text: expect.stringMatching(/^Malformed JSON/) }],
  ])('%s', (text, expected) => {
    expect(outcomeOf(text)).toEqual(expected);
  });

  it('bounds nesting before parsing, counting only structure outside strings', () => {
    expect(outcomeOf('[[[1]]]', 3)).toEqual({ ok: '[[[1]]]' });
    expect(outcomeOf('[[[[1]]]]', 3)).toEqual({ text: 'The body is nested deeper than 3 levels' });
    expect(outcomeOf('["[[[[[["]', 3)).toEqual({ ok: '["[[[[[["]' });
    expect(outcomeOf('['.repeat(100_000), 100)).toEqual({ text: 'The body is nested deeper than 100 levels' });
  });

  it.each([
    ['1', true],
    ['123456789012345', true],
    ['1.5e3', true],
    ['1e-400', false],
    ['1e400', false],
    ['9007199254740993', false],
    ['0.10000000000000001', false],
  ])('isExact(%s) is %s', (token, exact) => {
    expect(isExact(token)).toBe(exact);
  });
});
