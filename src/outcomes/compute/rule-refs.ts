/** The rule an outcome cites in Observation.method and Provenance.policy: as its declaration names it. */
import type { ResolvedOutcome } from '../../mapping/check-declarations.ts';
import type { RuleRef } from '../outcome-value.ts';

export function ruleOf(o: Pick<ResolvedOutcome, 'rule' | 'ruleId' | 'source'>): RuleRef {
  return { id: o.ruleId ?? o.rule, version: '1', source: o.source };
}
