/**
 * A retained result becomes a trial record: one Observation in one consistent shape whatever the
 * EHR sent (canonical code, value in the measure's UCUM unit, the original value kept), linked to
 * its study, ResearchSubject and visit, and derived from the source it came from.
 */
import { createHash } from 'node:crypto';
import type { Extension, Observation, Quantity } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import type { StudyDefinition, StudyMeasure } from '../mapping/study-definition.ts';
import {
  EXT_ORIGINAL_VALUE,
  EXT_RESEARCH_STUDY,
  EXT_RESEARCH_SUBJECT,
  EXT_VISIT,
  MEASURE_SYSTEM,
  TRIAL_RECORD_IDENTIFIER_SYSTEM,
  TRIAL_RECORD_TAG,
  VISIT_SYSTEM,
} from '../mapping/trial-extensions.ts';
import { toCanonicalUnit } from '../mapping/ucum.ts';
import { appError } from '../shared/app-error.ts';
import type { Enrollment } from './enrollment.ts';
import { outsidePhysiologicalRange } from './physiological-range.ts';
import { visitAt } from './visit-window.ts';

const DEFAULT_VALUE_PATH = 'Observation.value.ofType(Quantity)';
const compiledPaths = new Map<string, (r: Observation) => unknown[]>();

/** Measures may read their value from an unusual place: a FHIRPath per measure, compiled once. */
function measuredValue(source: Observation, measure: StudyMeasure): Quantity | undefined {
  const expr = measure.fhirpath ?? DEFAULT_VALUE_PATH;
  let fn = compiledPaths.get(expr);
  if (!fn) {
    const c = fhirpath.compile(expr, r4);
    fn = (r) => c(r as never) as unknown[];
    compiledPaths.set(expr, fn);
  }
  const q = fn(source)[0] as Quantity | undefined;
  return q && typeof q.value === 'number' ? q : undefined;
}

/** Reference ranges in the canonical unit too: eligibility compares values with the range's upper limit. */
function convertRanges(
  source: Observation,
  measure: StudyMeasure,
  aliases: Readonly<Record<string, string>>,
): NonNullable<Observation['referenceRange']> {
  const out: NonNullable<Observation['referenceRange']> = [];
  for (const range of source.referenceRange ?? []) {
    try {
      const convert = (q: Quantity | undefined): Quantity | undefined => {
        if (!q || typeof q.value !== 'number') return q;
        const unit = q.code ?? q.unit;
        if (!unit) return undefined;
        const c = toCanonicalUnit(q.value, unit, measure.unit, { molarMass: measure.molarMass, aliases });
        return { value: c.value, unit: c.unit, system: 'http://unitsofmeasure.org', code: c.unit };
      };
      const low = convert(range.low);
      const high = convert(range.high);
      out.push({ ...range, ...(low ? { low } : {}), ...(high ? { high } : {}) });
    } catch {
      // A range in a unit we cannot convert is left out rather than stored in the wrong unit.
    }
  }
  return out;
}

/** One trial record per source, subject and measure, with an id that does not change. */
export function trialRecordId(sourceRef: string, researchSubjectId: string, measureId: string): string {
  const h = createHash('sha256').update(`${sourceRef}|${researchSubjectId}|${measureId}`).digest('hex');
  return `tr-${h.slice(0, 40)}`;
}

export interface DeriveInput {
  source: Observation;
  /** "Observation/<id>" of the stored source. */
  sourceRef: string;
  study: StudyDefinition;
  measure: StudyMeasure;
  enrollment: Enrollment;
  unitAliases: Readonly<Record<string, string>>;
}

/** Throws AppError MAPPING_VALUE_MISSING / MAPPING_UNIT_* when the source cannot be normalised. */
export function deriveTrialRecord(input: DeriveInput): Observation {
  const { source, measure, enrollment, study } = input;
  const id = trialRecordId(input.sourceRef, enrollment.researchSubjectId, measure.id);
  const retracted = source.status === 'entered-in-error' || source.status === 'cancelled';
  const original = measuredValue(source, measure);
  if (!original && !retracted) {
    throw appError('MAPPING_VALUE_MISSING', `${measure.fhirpath ?? 'valueQuantity'} for ${measure.display}`);
  }
  const originalUnit = original?.code ?? original?.unit;
  if (original && !originalUnit && !retracted) {
    throw appError('MAPPING_UNIT_UNKNOWN', `the ${measure.display} value has none`);
  }
  const canonical =
    original && originalUnit
      ? toCanonicalUnit(original.value as number, originalUnit, measure.unit, {
          molarMass: measure.molarMass,
          aliases: input.unitAliases,
          measure: measure.display,
        })
      : undefined;
  // A retraction is accepted whatever value it carries: it removes the result from the trial.
  const impossible = canonical && !retracted ? outsidePhysiologicalRange(canonical.value, measure) : undefined;
  if (impossible) throw appError('MAPPING_VALUE_IMPOSSIBLE', `${impossible} (${measure.display})`);
  const effective = source.effectiveDateTime ?? source.effectivePeriod?.start ?? source.effectiveInstant;
  const visit = visitAt(effective, enrollment.start, study.visits);
  const extension: Extension[] = [
    { url: EXT_RESEARCH_STUDY, valueReference: { reference: `ResearchStudy/${study.id}` } },
    { url: EXT_RESEARCH_SUBJECT, valueReference: { reference: `ResearchSubject/${enrollment.researchSubjectId}` } },
    { url: EXT_VISIT, valueCoding: { system: VISIT_SYSTEM, code: visit } },
  ];
  if (original) extension.push({ url: EXT_ORIGINAL_VALUE, valueQuantity: original });
  const canonicalCode = measure.codes[0];
  const record: Observation = {
    resourceType: 'Observation',
    id,
    meta: { tag: [TRIAL_RECORD_TAG] },
    extension,
    identifier: [{ system: TRIAL_RECORD_IDENTIFIER_SYSTEM, value: id }],
    status: source.status,
    category: source.category,
    code: {
      coding: [
        ...(canonicalCode ? [{ system: canonicalCode.system, code: canonicalCode.code }] : []),
        { system: MEASURE_SYSTEM, code: measure.id, display: measure.display },
      ],
      text: measure.display,
    },
    subject: { reference: `Patient/${enrollment.patientId}` },
    derivedFrom: [{ reference: input.sourceRef }],
  };
  if (effective) record.effectiveDateTime = effective;
  if (measure.method) record.method = { coding: [measure.method] };
  if (canonical) {
    record.valueQuantity = {
      value: canonical.value,
      unit: canonical.unit,
      system: 'http://unitsofmeasure.org',
      code: canonical.unit,
    };
  }
  const ranges = convertRanges(source, measure, input.unitAliases);
  if (ranges.length > 0) record.referenceRange = ranges;
  if (!record.category) delete record.category;
  return record;
}
