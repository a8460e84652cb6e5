/**
 * One outcome profile per code a study's declared outcomes publish, generated from the
 * declarations: the trial-outcome invariants plus this study, this code and what the value may be
 * (the UCUM unit of a quantity, the declared categories of a coded outcome). Ids carry the study id,
 * so two studies may give one outcome code different units (a change in g/L here, in mg/dL there).
 */
import { OUTCOME_SYSTEM, outcomeCodes } from '../outcome-codes.ts';
import type { StudyDefinition } from '../study-definition.ts';
import type { ProfileSpec } from './constrain.ts';
import { pascal } from './measure-specs.ts';
import { PROFILE_BASE } from './profile-base.ts';
import { OUTCOME_INVARIANTS } from './specs.ts';

const UCUM = 'http://unitsofmeasure.org';
/** A retracted value, or one not evaluable (with its reason), carries no value to constrain. */
const NO_VALUE = "status = 'entered-in-error' or dataAbsentReason.exists()";
/** FHIR ids are at most 64 characters. */
const MAX_ID = 64;

export function outcomeProfileId(studyId: string, code: string): string {
  return `trial-outcome-${studyId}-${code}`;
}

export function outcomeProfileUrl(studyId: string, code: string): string {
  return `${PROFILE_BASE}/${outcomeProfileId(studyId, code)}`;
}

const quote = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export function outcomeProfileSpecs(studies: readonly StudyDefinition[]): ProfileSpec[] {
  const specs: ProfileSpec[] = [];
  for (const study of studies) {
    const seen = new Set<string>();
    for (const def of outcomeCodes(study)) {
      // A component code (a PedsQL scale) is never an Observation of its own.
      if (seen.has(def.code) || def.shape === 'component') continue;
      seen.add(def.code);
      const id = outcomeProfileId(study.id, def.code);
      if (id.length > MAX_ID) {
        throw new Error(`study ${study.id}: outcome profile id ${id} is longer than ${MAX_ID} characters`);
      }
      const invariants: ProfileSpec['invariants'] = [
        ...OUTCOME_INVARIANTS,
        {
          key: 'khe-oc-5',
          human: `coded as the ${def.code} outcome`,
          expression: `code.coding.where(system = '${OUTCOME_SYSTEM}' and code = ${quote(def.code)}).exists()`,
        },
        {
          key: 'khe-oc-6',
          human: `an outcome of study ${study.identifier.value}`,
          expression: `extension('http://hl7.org/fhir/StructureDefinition/workflow-researchStudy').value.reference = 'ResearchStudy/${study.id}'`,
        },
      ];
      if (def.unit !== undefined) {
        invariants.push({
          key: 'khe-oc-7',
          human: `the value is a Quantity in ${def.unit} (UCUM)`,
          expression: `${NO_VALUE} or value.ofType(Quantity).where(system = '${UCUM}' and code = ${quote(def.unit)}).exists()`,
        });
      } else if (def.categories?.length) {
        const codes = def.categories.map((c) => quote(c.code)).join(' | ');
        invariants.push({
          key: 'khe-oc-7',
          human: `the value is one of the declared categories: ${def.categories.map((c) => c.code).join(', ')}`,
          expression: `${NO_VALUE} or value.ofType(CodeableConcept).coding.where(system = '${OUTCOME_SYSTEM}' and code in (${codes})).exists()`,
        });
      }
      const unit = def.unit !== undefined ? `, in ${def.unit} (UCUM)` : '';
      const categories = def.categories?.length ? `, one of ${def.categories.map((c) => c.code).join(', ')}` : '';
      specs.push({
        id,
        url: outcomeProfileUrl(study.id, def.code),
        name: `TrialOutcome${pascal(study.id)}${pascal(def.code)}`,
        title: `${def.display}: computed outcome (${study.identifier.value})`,
        description: `The ${def.code} outcome of ${study.identifier.value} as its study.json declares it (outcome ${def.outcome}${study.outcomes.find((o) => o.id === def.outcome)?.primary ? ', primary' : ''})${unit}${categories}.`,
        baseType: 'Observation',
        required: ['Observation.identifier'],
        invariants,
      });
    }
  }
  return specs;
}
