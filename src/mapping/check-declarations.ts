/**
 * What the outcome declarations refer to must exist and fit: measures, visits and forms by id,
 * threshold units convertible (with the UCUM library) to the measure's unit, a trough target for
 * every trough rule, one "otherwise" category last. Problems name the outcome, so a wrong study.json
 * stops start-up with one line saying which outcome and why. Thresholds and eligibility limits are
 * then converted once to their measure's unit: rules compare values in one unit, never raw.
 */
import { codesOf } from './outcome-codes.ts';
import type {
  CriterionDeclaration,
  EligibilityDeclaration,
  InterventionDeclaration,
  OutcomeDeclaration,
  OutcomeOf,
} from './outcome-declarations.ts';
import { isUcumUnit, toCanonicalUnit } from './ucum.ts';

interface DeclaredMeasure {
  id: string;
  unit: string;
  molarMass?: number | undefined;
  dueAt: string[];
}

interface Declared {
  baselineVisit: string;
  visits: readonly { id: string }[];
  measures: readonly DeclaredMeasure[];
  forms: readonly { id: string }[];
  arms: readonly { name: string; interventions: InterventionDeclaration[] }[];
  eligibility?: EligibilityDeclaration | undefined;
  outcomes: readonly OutcomeDeclaration[];
}

export interface Problem {
  path: (string | number)[];
  message: string;
}

/** value in unit, in the measure's unit; undefined when UCUM cannot convert it. */
function convert(value: number, unit: string, m: DeclaredMeasure): number | undefined {
  if (!isUcumUnit(unit)) return undefined;
  try {
    return toCanonicalUnit(value, unit, m.unit, { molarMass: m.molarMass }).value;
  } catch {
    return undefined;
  }
}

function measuresOf(o: OutcomeDeclaration): string[] {
  switch (o.rule) {
    case 'change-from-baseline':
    case 'volume-response':
    case 'trough-target':
    case 'time-in-range':
    case 'share-in-range':
    case 'dose-estimate':
      return [o.measure];
    case 'threshold-response':
      return o.conditions.map((c) => c.measure);
    default:
      return [];
  }
}

function outcomeProblems(s: Declared, o: OutcomeDeclaration): string[] {
  const out: string[] = [];
  const measure = (id: string) => s.measures.find((m) => m.id === id);
  for (const id of measuresOf(o)) if (!measure(id)) out.push(`unknown measure "${id}"`);
  const visits = new Set(s.visits.map((v) => v.id));
  for (const v of o.visits ?? []) if (!visits.has(v)) out.push(`unknown visit "${v}"`);
  if (o.rule === 'threshold-response') {
    if (!o.visits) out.push('visits missing: a threshold response names the visits it is assessed at');
    for (const c of o.conditions) {
      const m = measure(c.measure);
      if (!m) continue;
      if (!isUcumUnit(c.unit)) out.push(`threshold unit "${c.unit}" is not a UCUM unit`);
      else if (convert(c.value, c.unit, m) === undefined) {
        out.push(`threshold ${c.value} ${c.unit} cannot be converted to ${m.unit}, the unit of measure ${m.id}`);
      }
    }
  }
  if (o.rule === 'volume-response') {
    const otherwise = o.categories.filter((c) => !c.percentChange).length;
    if (otherwise !== 1) out.push(`exactly one category has no percentChange (the otherwise); found ${otherwise}`);
  }
  if (
    o.rule === 'trough-target' ||
    o.rule === 'time-in-range' ||
    o.rule === 'share-in-range' ||
    o.rule === 'dose-estimate'
  ) {
    const targeted = s.arms.some((a) => a.interventions.some((i) => i.troughTarget?.measure === o.measure));
    if (!targeted) out.push(`no arm's intervention declares a trough target for measure "${o.measure}"`);
  }
  if (o.rule === 'pro-score')
    for (const f of o.forms) if (!s.forms.some((x) => x.id === f)) out.push(`unknown form "${f}"`);
  if (o.rule === 'musculoskeletal-score' && !s.forms.some((x) => x.id === o.form)) out.push(`unknown form "${o.form}"`);
  if (o.rule === 'eligibility' && !s.eligibility) out.push('the study declares no eligibility criteria');
  return out;
}

function criterionProblems(s: Declared, c: CriterionDeclaration): string[] {
  const m = s.measures.find((x) => x.id === c.measure);
  if (!m) return [`unknown measure "${c.measure}"`];
  const limits = [...(c.value !== undefined ? [c.value] : []), ...(c.byAge ?? []).map((b) => b.value)];
  if (c.unit === undefined) return [];
  if (!isUcumUnit(c.unit)) return [`limit unit "${c.unit}" is not a UCUM unit`];
  return limits.some((l) => convert(Number(l), c.unit as string, m) === undefined)
    ? [`limit unit ${c.unit} cannot be converted to ${m.unit}, the unit of measure ${m.id}`]
    : [];
}

export function checkDeclarations(s: Declared): Problem[] {
  const problems: Problem[] = [];
  if (!s.visits.some((v) => v.id === s.baselineVisit)) {
    problems.push({ path: ['baselineVisit'], message: `baselineVisit "${s.baselineVisit}" is not a visit` });
  }
  s.arms.forEach((a, i) => {
    for (const t of a.interventions) {
      if (t.troughTarget && !s.measures.some((m) => m.id === t.troughTarget?.measure)) {
        problems.push({
          path: ['arms', i],
          message: `arm ${a.name}: trough target of ${t.drug} names unknown measure "${t.troughTarget.measure}"`,
        });
      }
    }
  });
  const seen = new Map<string, string>();
  s.outcomes.forEach((o, i) => {
    for (const p of outcomeProblems(s, o)) problems.push({ path: ['outcomes', i], message: `outcome ${o.id}: ${p}` });
    for (const c of codesOf(o)) {
      const other = seen.get(c.code);
      if (other)
        problems.push({ path: ['outcomes', i], message: `outcome ${o.id}: code ${c.code} also used by ${other}` });
      seen.set(c.code, o.id);
    }
  });
  s.eligibility?.criteria.forEach((c, i) => {
    for (const p of criterionProblems(s, c)) {
      problems.push({ path: ['eligibility', 'criteria', i], message: `eligibility criterion ${c.id}: ${p}` });
    }
  });
  return problems;
}

export type ResolvedCondition = OutcomeOf<'threshold-response'>['conditions'][number] & {
  /** The threshold in the measure's unit. */
  canonicalValue: number;
};
export type ResolvedOutcome =
  | Exclude<OutcomeDeclaration, { rule: 'threshold-response' }>
  | (Omit<OutcomeOf<'threshold-response'>, 'conditions'> & { conditions: ResolvedCondition[] });
export type ResolvedCriterion = Omit<CriterionDeclaration, 'byAge'> & {
  canonicalValue?: number | undefined;
  byAge?: { minYears: number; maxYears: number; value: number | string; canonicalValue: number }[] | undefined;
};
type TroughTarget = NonNullable<InterventionDeclaration['troughTarget']>;

/** Runs after checkDeclarations passed, so every measure exists and every unit converts. */
export function withCanonicalLimits<T extends Declared>(
  s: T,
): Omit<T, 'outcomes' | 'eligibility' | 'arms'> & {
  arms: (T['arms'][number] & { troughTarget: TroughTarget | undefined })[];
  eligibility: { age?: EligibilityDeclaration['age']; criteria: ResolvedCriterion[] } | undefined;
  outcomes: ResolvedOutcome[];
} {
  const measure = (id: string) => s.measures.find((m) => m.id === id) as DeclaredMeasure;
  const inUnit = (v: number | string, unit: string | undefined, m: string) =>
    unit === undefined ? Number(v) : (convert(Number(v), unit, measure(m)) as number);
  return {
    ...s,
    // The arm's trough target: that of its first intervention declaring one.
    arms: s.arms.map((a) => ({ ...a, troughTarget: a.interventions.find((i) => i.troughTarget)?.troughTarget })),
    eligibility: s.eligibility && {
      ...s.eligibility,
      criteria: s.eligibility.criteria.map(
        ({ byAge, ...c }): ResolvedCriterion => ({
          ...c,
          ...(c.value !== undefined ? { canonicalValue: inUnit(c.value, c.unit, c.measure) } : {}),
          ...(byAge ? { byAge: byAge.map((b) => ({ ...b, canonicalValue: inUnit(b.value, c.unit, c.measure) })) } : {}),
        }),
      ),
    },
    outcomes: s.outcomes.map(
      (o): ResolvedOutcome =>
        o.rule === 'threshold-response'
          ? {
              ...o,
              conditions: o.conditions.map((c) => ({ ...c, canonicalValue: inUnit(c.value, c.unit, c.measure) })),
            }
          : o,
    ),
  };
}
