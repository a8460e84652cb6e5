/**
 * Adverse events per subject (worst grade; events per term for the per-arm counts) and laboratory
 * adverse events suggested from results, as unconfirmed AdverseEvents an investigator reviews.
 */
import { createHash } from 'node:crypto';
import type { AdverseEvent } from '@medplum/fhirtypes';
import { PROJECT_BASE } from '../../records/trial-extensions.ts';
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
import { RULES } from './rule-refs.ts';

export const REVIEW_TAG = { system: `${PROJECT_BASE}/CodeSystem/review-status`, code: 'suggested' } as const;
const GRADE_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';
const SUBJECT_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/research-subject-ref';

export interface ExtraSummary {
  visit: string;
  kind: string;
  category: string;
  value: number | null;
}

export function adverseEventOutcomes(inputs: SubjectInputs): { values: OutcomeValue[]; summary: ExtraSummary[] } {
  if (inputs.adverseEvents.length === 0) return { values: [], summary: [] };
  const s = summariseAdverseEvents(inputs.adverseEvents);
  const values: OutcomeValue[] = [
    {
      code: 'ae-worst-grade',
      visit: OVERALL,
      effective:
        inputs.adverseEvents
          .map((a) => a.date ?? '')
          .sort()
          .pop() || undefined,
      derivedFrom: inputs.adverseEvents.map((a) => a.ref),
      rule: RULES.ae,
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

function suggestFor(v: MeasureValue): LabAeSuggestion | undefined {
  switch (v.measureId) {
    case 'platelets':
      return plateletCountDecreased(v.value, v.low);
    case 'anc':
      return neutrophilCountDecreased(v.value, v.low);
    case 'alt':
      return aminotransferaseIncreased('alanine-aminotransferase-increased', v.value, v.high);
    case 'ast':
      return aminotransferaseIncreased('aspartate-aminotransferase-increased', v.value, v.high);
    default:
      return undefined;
  }
}

/** Only on treatment (day 1 on): baseline thrombocytopenia is the disease (KMP), not an adverse event. */
export function labAdverseEventSuggestions(inputs: SubjectInputs): AdverseEvent[] {
  const out: AdverseEvent[] = [];
  const enrollment = enrollmentOf(inputs);
  for (const v of inputs.values) {
    if (v.day < 1) continue;
    const s = suggestFor(v);
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
      suspectEntity: [{ instance: { display: 'sirolimus' } }],
      subjectMedicalHistory: [{ reference: v.ref }],
    });
  }
  return out;
}
