/**
 * Turns computed outcome values into the FHIR the trial publishes: an Observation per value (in the
 * trial-outcome profile, coded from trial-outcomes, derivedFrom every input, linked to study,
 * ResearchSubject and visit) and a Provenance per Observation version naming the inputs and the
 * rule. Pure; ids are derived from the subject, code, visit and key, so a recomputation finds and
 * versions the same resource instead of duplicating it.
 */
import { createHash } from 'node:crypto';
import type { CodeableConcept, Observation, Provenance } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { OUTCOME_SYSTEM, outcomeCodeDef } from '../mapping/outcome-codes.ts';
import { PROFILE_BASE } from '../mapping/profile-build/profile-base.ts';
import { PROJECT_BASE } from '../mapping/trial-extensions.ts';
import { trialLinks } from '../records/trial-links.ts';
import type { OutcomeResult, OutcomeValue } from './outcome-value.ts';
import { enrollmentOf, type SubjectInputs } from './subject-inputs.ts';

export const OUTCOME_TAG = { system: `${PROJECT_BASE}/CodeSystem/record-kind`, code: 'outcome' } as const;
export const OUTCOME_PROFILE = `${PROFILE_BASE}/trial-outcome`;
export const OUTCOME_IDENTIFIER_SYSTEM = `${PROJECT_BASE}/sid/trial-outcome`;
export const RULE_BASE = `${PROJECT_BASE}/rules`;

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 40);

export function outcomeId(researchSubjectId: string, v: Pick<OutcomeValue, 'code' | 'visit' | 'key'>): string {
  return `oc-${hash(`${researchSubjectId}|${v.code}|${v.visit}|${v.key ?? ''}`)}`;
}

function resultFields(r: OutcomeResult): Partial<Observation> {
  if (r.kind === 'quantity') {
    return { valueQuantity: { value: r.value, unit: r.unit, system: 'http://unitsofmeasure.org', code: r.unit } };
  }
  if (r.kind === 'category') {
    return {
      valueCodeableConcept: { coding: [{ system: OUTCOME_SYSTEM, code: r.code, display: r.display }], text: r.display },
    };
  }
  return {
    dataAbsentReason: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }],
      text: `Not evaluable: ${r.reason}`,
    },
  };
}

/** The rule's own say (computed from drug levels) or the study's declaration (armRevealing.outcomeKinds). */
export function outcomeRevealsArm(inputs: SubjectInputs, v: OutcomeValue): boolean {
  return v.armRevealing === true || inputs.study.armRevealing.outcomeKinds.includes(v.code);
}

export function outcomeObservation(inputs: SubjectInputs, v: OutcomeValue, status: 'final' | 'amended'): Observation {
  const def = outcomeCodeDef(inputs.study, v.code);
  const id = outcomeId(inputs.researchSubjectId, v);
  const code: CodeableConcept = {
    coding: [{ system: OUTCOME_SYSTEM, code: v.code, display: def?.display ?? v.code }],
    text: def?.display ?? v.code,
  };
  const enrollment = enrollmentOf(inputs);
  const obs: Observation = {
    resourceType: 'Observation',
    id,
    meta: {
      profile: [OUTCOME_PROFILE],
      tag: [OUTCOME_TAG],
      ...(outcomeRevealsArm(inputs, v) ? { security: [ARM_REVEALING_SECURITY_LABEL] } : {}),
    },
    extension: trialLinks(inputs.study, enrollment, v.visit),
    identifier: [{ system: OUTCOME_IDENTIFIER_SYSTEM, value: id }],
    status,
    category: [
      {
        coding: [
          { system: `${PROJECT_BASE}/CodeSystem/record-kind`, code: 'outcome', display: 'Computed trial outcome' },
        ],
      },
    ],
    code,
    subject: { reference: `Patient/${inputs.patientId}` },
    ...(v.effective ? { effectiveDateTime: v.effective } : {}),
    ...resultFields(v.result),
    derivedFrom: [...new Set(v.derivedFrom)].sort().map((reference) => ({ reference })),
    method: {
      coding: [
        { system: `${RULE_BASE}`, code: v.rule.id, display: `${v.rule.id} v${v.rule.version}: ${v.rule.source}` },
      ],
    },
  };
  if (v.components?.length) {
    obs.component = v.components.map((c) => ({
      code: { coding: [{ system: OUTCOME_SYSTEM, code: c.code, display: c.display }], text: c.display },
      ...resultFields(c.result),
    }));
  }
  if (v.note) obs.note = [{ text: v.note }];
  if (!obs.derivedFrom?.length) delete obs.derivedFrom;
  return obs;
}

/**
 * One Provenance per rule and recomputation: it targets every Observation version that rule
 * produced for the subject in this pass, names the union of their inputs as sources and the rule
 * (with its version) as policy. Per-version granularity is kept by the versioned target references.
 */
export function outcomeProvenance(
  researchSubjectId: string,
  targets: readonly string[],
  sources: readonly string[],
  rule: OutcomeValue['rule'],
  armRevealing: boolean,
  recorded: string,
): Provenance {
  const sortedTargets = [...targets].sort();
  const prov: Provenance = {
    resourceType: 'Provenance',
    id: `pv-${hash(`${researchSubjectId}|${rule.id}|${sortedTargets.join(',')}`)}`,
    target: sortedTargets.map((reference) => ({ reference })),
    recorded,
    policy: [`${RULE_BASE}/${rule.id}|${rule.version}`],
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'DERIVE', display: 'derive' }],
    },
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }],
        },
        who: { display: 'KHE trial adapter, outcomes stage' },
      },
    ],
    reason: [{ text: rule.source }],
  };
  // A rule without inputs (eligibility with no lab found) has no source: R4 JSON forbids an empty array.
  if (sources.length > 0)
    prov.entity = [...new Set(sources)].sort().map((reference) => ({ role: 'source', what: { reference } }));
  if (armRevealing) prov.meta = { security: [ARM_REVEALING_SECURITY_LABEL] };
  return prov;
}
