/**
 * The vocabulary of computed outcomes, generated from each study's declared outcomes: the codes of
 * the project's CodeSystem trial-outcomes (published in profiles/ by the profile build), their
 * units, categories, and where the flat analysis export puts them. Nothing here names a study's
 * measure or visit: each catalogue rule says which codes it publishes from its declaration.
 */

import type { OutcomeDeclaration } from './outcome-declarations.ts';
import { PROJECT_BASE } from './trial-extensions.ts';

export const OUTCOME_SYSTEM = `${PROJECT_BASE}/CodeSystem/trial-outcomes`;

export interface OutcomeCodeDef {
  code: string;
  display: string;
  /** UCUM unit of a quantity outcome; undefined for a category. */
  unit?: string | undefined;
  /** Categories the outcome takes, when it is coded. */
  categories?: readonly { code: string; display: string }[] | undefined;
  /** The flat export's column for it: per visit row, per subject, or none. */
  column?: 'visit' | 'subject' | undefined;
  /** Computed from drug levels, whose targets differ by arm: hidden from outcome assessors. */
  armRevealing?: boolean | undefined;
  /** The resource type it is computed from, when a caller must be allowed to read that type. */
  sourceType?: 'QuestionnaireResponse' | 'AdverseEvent' | undefined;
  /** The declared outcome it belongs to. */
  outcome: string;
  /**
   * How it is published when not one value per subject and visit (which MeasureReports count):
   * one value per input (each trough), or only as a component of another outcome (a PedsQL scale).
   */
  shape?: 'per-input' | 'component' | undefined;
}

const TROUGH_CATEGORIES = [
  { code: 'below', display: 'Below target' },
  { code: 'in-range', display: 'In target range' },
  { code: 'above', display: 'Above target' },
] as const;

export const ELIGIBILITY_CATEGORIES = [
  { code: 'eligible', display: 'Eligible' },
  { code: 'ineligible', display: 'Ineligible' },
  { code: 'undetermined', display: 'Not yet determined' },
] as const;

const VISIT_CATEGORIES = [
  { code: 'done', display: 'Done' },
  { code: 'due', display: 'Due (window open)' },
  { code: 'overdue', display: 'Overdue (window closed, data missing)' },
  { code: 'not-yet-due', display: 'Not yet due' },
] as const;

/** The scores of an instrument beyond its total, fixed by its scoring manual. */
export const PRO_CODES = {
  'pedsql-4.0': {
    physical: { code: 'pedsql-physical', display: 'PedsQL 4.0 physical functioning score' },
    psychosocial: { code: 'pedsql-psychosocial', display: 'PedsQL 4.0 psychosocial health summary score' },
    scale: { code: 'pedsql-scale', display: 'PedsQL 4.0 scale score (scale in component)' },
  },
} as const;

/** The codes one declared outcome publishes, in the order the flat export lists them. */
export function codesOf(o: OutcomeDeclaration, unitOf: (measure: string) => string | undefined = () => undefined) {
  const own = { code: o.id, display: o.display, outcome: o.id };
  const defs: OutcomeCodeDef[] = [];
  switch (o.rule) {
    case 'change-from-baseline':
      defs.push({ ...own, unit: unitOf(o.measure), column: 'visit' });
      if (o.percentChange) defs.push({ ...own, ...pc(o.percentChange) });
      break;
    case 'volume-response':
      if (o.percentChange) defs.push({ ...own, ...pc(o.percentChange) });
      defs.push({
        ...own,
        categories: o.categories.map((c) => ({ code: c.code, display: c.display })),
        column: 'visit',
      });
      break;
    case 'threshold-response':
      defs.push({ ...own, categories: [o.met, o.notMet], column: 'visit' });
      break;
    case 'trough-target':
      defs.push({ ...own, categories: TROUGH_CATEGORIES, armRevealing: true, shape: 'per-input' });
      break;
    case 'time-in-range':
    case 'share-in-range':
      defs.push({ ...own, unit: '%', column: 'subject', armRevealing: true });
      break;
    case 'dose-estimate':
      defs.push({ ...own, unit: 'mg', armRevealing: true });
      break;
    case 'pro-score': {
      const more = PRO_CODES[o.instrument];
      const form = { unit: '1', sourceType: 'QuestionnaireResponse' as const, outcome: o.id };
      defs.push({ ...own, ...form, column: 'visit' });
      defs.push({ ...more.physical, ...form, column: 'visit' });
      defs.push({ ...more.psychosocial, ...form, column: 'visit' });
      defs.push({ ...more.scale, ...form, shape: 'component' });
      break;
    }
    case 'musculoskeletal-score':
      defs.push({ ...own, unit: '1', column: 'visit', sourceType: 'QuestionnaireResponse' });
      if (o.change) {
        defs.push({
          code: o.change.id,
          display: o.change.display,
          unit: '1',
          column: 'visit',
          sourceType: 'QuestionnaireResponse',
          outcome: o.id,
        });
      }
      break;
    case 'ae-summary':
      defs.push({ ...own, unit: '1', column: 'subject', sourceType: 'AdverseEvent' });
      break;
    case 'eligibility':
      defs.push({ ...own, categories: ELIGIBILITY_CATEGORIES, column: 'subject' });
      break;
    case 'visit-compliance':
      defs.push({ ...own, categories: VISIT_CATEGORIES, column: 'visit' });
      break;
  }
  return defs;
}

function pc(p: { id: string; display: string }): Pick<OutcomeCodeDef, 'code' | 'display' | 'unit' | 'column'> {
  return { code: p.id, display: p.display, unit: '%', column: 'visit' };
}

interface StudyOutcomes {
  outcomes: readonly OutcomeDeclaration[];
  measures: readonly { id: string; unit: string }[];
}

const cache = new WeakMap<StudyOutcomes, OutcomeCodeDef[]>();

/** Every code a study's declared outcomes publish. */
export function outcomeCodes(study: StudyOutcomes): OutcomeCodeDef[] {
  let codes = cache.get(study);
  if (!codes) {
    const unitOf = (id: string) => study.measures.find((m) => m.id === id)?.unit;
    codes = study.outcomes.flatMap((o) => codesOf(o, unitOf));
    cache.set(study, codes);
  }
  return codes;
}

export function outcomeCodeDef(study: StudyOutcomes, code: string): OutcomeCodeDef | undefined {
  return outcomeCodes(study).find((c) => c.code === code);
}
