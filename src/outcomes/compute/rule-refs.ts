/** The rules outcomes cite in Observation.method and Provenance.policy, with their sources. */
import type { RuleRef } from '../outcome-value.ts';

const rule = (id: string, source: string): RuleRef => ({ id, version: '1', source });

export const RULES = {
  volume: rule('volume-response', 'Registry record NCT04775173: KHE volume response categories'),
  labChange: rule('lab-change', 'Registry record NCT04775173: platelet count and fibrinogen change from baseline'),
  km: rule(
    'km-response',
    'Registry record NCT04775173: Kasabach-Merritt haematological response; thresholds in study.json',
  ),
  trough: rule('trough-target', 'Registry record NCT04775173: trough target 5-10 / 10-15 ng/mL by arm'),
  ttr: rule('time-in-range', 'Rosendaal FR et al. Thromb Haemost 1993;69:236-9, linear interpolation'),
  dose: rule('dose-estimate', 'Rapamune US label section 2.1: proportional dose adjustment'),
  pedsql: rule('pedsql-4.0', 'PedsQL scoring manual (pedsql.org/score.html)'),
  msk: rule('msk-score', 'Registry record NCT04775173: 4-point musculoskeletal complication score'),
  ae: rule('ae-summary', 'Registry record NCT04775173: adverse events graded by CTCAE v4.0'),
  eligibility: rule('eligibility', 'Registry record NCT04775173: inclusion criteria'),
  compliance: rule('visit-compliance', 'Registry record NCT04775173 visit schedule; windows in study.json'),
} as const;
