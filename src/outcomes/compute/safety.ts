/**
 * Adverse events per subject (worst grade; events per term for the per-arm counts) and laboratory
 * adverse events suggested from results, as unconfirmed AdverseEvents an investigator reviews.
 */
import { createHash } from 'node:crypto';
import type { AdverseEvent } from '@medplum/fhirtypes';
import type { OutcomeOf } from '../../mapping/outcome-declarations.ts';
import { PROJECT_BASE } from '../../mapping/trial-extensions.ts';
import { trialLinks } from '../../records/trial-links.ts';
import { OUTCOME_IDENTIFIER_SYSTEM, OUTCOME_TAG } from '../outcome-resources.ts';
import { type OutcomeValue, OVERALL } from '../outcome-value.ts';
import { summariseAdverseEvents } from '../rules/adverse-event-summary.ts';
import {
  aminotransferaseIncreased,
  type LabAeSuggestion,
  neutrophilCountDecreased,
  plateletCountDecreased,
} from '../rules/lab-adverse-events.ts';
import { enrollmentOf, type MeasureValue, type SubjectInputs } from '../subject-inputs.ts';
import { ruleOf } from './rule-refs.ts';

export const REVIEW_TAG = { system: `${PROJECT_BASE}/CodeSystem/review-status`, code: 'suggested' } as const;
const GRADE_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';
const SUBJECT_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/research-subject-ref';

export interface ExtraSummary {
  visit: string;
  kind: string;
  category: string;
  value: number | null;
}

export function adverseEventOutcomes(
  inputs: SubjectInputs,
  o: OutcomeOf<'ae-summary'>,
): { values: OutcomeValue[]; summary: ExtraSummary[] } {
  if (inputs.adverseEvents.length === 0) return { values: [], summary: [] };
  const s = summariseAdverseEvents(inputs.adverseEvents);
  const values: OutcomeValue[] = [
    {
      code: o.id,
      visit: OVERALL,
      effective:
        inputs.adverseEvents
          .map((a) => a.date ?? '')
          .sort()
          .pop() || undefined,
      derivedFrom: inputs.adverseEvents.map((a) => a.ref),
      rule: ruleOf(o),
      result:
        s.worstGrade === undefined
          ? { kind: 'not-evaluable', reason: 'no graded adverse event' }
          : { kind: 'quantity', value: s.worstGrade, unit: '1' },
      note: `${s.events} event(s); causality ${Object.entries(s.byCausality)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )}; dose reductions ${s.doseReductions}, interruptions ${s.interruptions}, cessations ${s.cessations}`,
    },
  ];
  const summary: ExtraSummary[] = Object.entries(s.byTerm).map(([term, n]) => ({
    visit: OVERALL,
    kind: 'ae-term',
    category: term,
    value: n,
  }));
  return { values, summary };
}

type LabAeTerm = LabAeSuggestion['term'];

function grade(term: LabAeTerm, v: MeasureValue): LabAeSuggestion | undefined {
  switch (term) {
    case 'platelet-count-decreased':
      return plateletCountDecreased(v.value, v.low);
    case 'neutrophil-count-decreased':
      return neutrophilCountDecreased(v.value, v.low);
    case 'alanine-aminotransferase-increased':
    case 'aspartate-aminotransferase-increased':
      return aminotransferaseIncreased(term, v.value, v.high);
  }
}

/**
 * For the measures that declare a CTCAE term with suggestions on, and only on treatment (day 1 on):
 * a pre-treatment value is the condition being treated, not an adverse event of the drug.
 */
export function labAdverseEventSuggestions(inputs: SubjectInputs): AdverseEvent[] {
  const out: AdverseEvent[] = [];
  const enrollment = enrollmentOf(inputs);
  const terms = new Map<string, LabAeTerm>();
  for (const m of inputs.study.measures) if (m.adverseEvent?.suggest) terms.set(m.id, m.adverseEvent.ctcae);
  if (terms.size === 0) return out;
  const arm = inputs.study.arms.find((a) => a.name === inputs.arm);
  const drugs = [...new Set((arm ? [arm] : inputs.study.arms).flatMap((a) => a.interventions.map((i) => i.drug)))];
  for (const v of inputs.values) {
    if (v.day < 1) continue;
    const term = terms.get(v.measureId);
    const s = term && grade(term, v);
    if (!s) continue;
    const id = `aes-${createHash('sha256').update(`${inputs.researchSubjectId}|${v.ref}|${s.term}`).digest('hex').slice(0, 40)}`;
    out.push({
      resourceType: 'AdverseEvent',
      id,
      meta: { tag: [OUTCOME_TAG, REVIEW_TAG] },
      extension: [
        {
          url: GRADE_EXT,
          valueCodeableConcept: {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/adverse-event-clinical-research-grades',
                code: String(s.grade),
              },
            ],
          },
        },
        { url: SUBJECT_EXT, valueReference: { reference: `ResearchSubject/${inputs.researchSubjectId}` } },
        ...trialLinks(inputs.study, enrollment, v.visit),
      ],
      identifier: { system: OUTCOME_IDENTIFIER_SYSTEM, value: id },
      actuality: 'actual',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/adverse-event-category', code: 'AE' }] }],
      event: {
        coding: [{ system: 'https://www.meddra.org', code: s.meddra, display: s.display }],
        text: `${s.display} (suggested from ${v.value} ${v.unit}; CTCAE v4.03 grade ${s.grade}; to be confirmed by an investigator)`,
      },
      subject: { reference: `Patient/${inputs.patientId}` },
      date: v.effective,
      study: [{ reference: `ResearchStudy/${inputs.study.id}` }],
      suspectEntity: drugs.map((display) => ({ instance: { display } })),
      subjectMedicalHistory: [{ reference: v.ref }],
    });
  }
  return out;
}
