// Fixtures WRITTEN FOR THE TESTS.
import { describe, expect, it } from 'vitest';
import { constantOutcome, notRetained, outcomeText } from '../../src/shared/outcomes.ts';

describe('constant outcomes (issue 22)', () => {
  it('serialises a constant once, to the same text JSON.stringify gives, and freezes it all the way down', () => {
    const answer = constantOutcome(notRetained('Not retained: the patient is not enrolled'));
    expect(outcomeText(answer)).toBe(JSON.stringify(notRetained('Not retained: the patient is not enrolled')));
    expect(Object.isFrozen(answer)).toBe(true);
    expect(Object.isFrozen(answer.issue[0]?.details)).toBe(true);
    // What later answers send cannot be changed through a shared object.
    expect(() => {
      (answer.issue[0] as { severity: string }).severity = 'error';
    }).toThrow(TypeError);
    expect(outcomeText(answer)).toContain('"severity":"information"');
  });

  it('serialises any other outcome as it is now', () => {
    const o = notRetained('first');
    expect(outcomeText(o)).toBe(JSON.stringify(o));
    (o.issue[0] as { details: { text: string } }).details.text = 'second';
    expect(outcomeText(o)).toContain('second');
  });
});
