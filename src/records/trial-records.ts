/**
 * Derives the trial records of a retained source Observation for every (enrollment, measure) pair
 * the ingest gate found, turning normalisation failures into the 422 the feed receives.
 */
import type { Observation } from '@medplum/fhirtypes';
import { AppError } from '../app/app-error.ts';
import { fail, unprocessable } from '../fhir/outcomes.ts';
import type { RouteDecision } from '../ingest/route-result.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { deriveTrialRecord } from './trial-record.ts';

export class TrialRecordDeriver {
  readonly #studies: Map<string, StudyDefinition>;
  readonly #aliases: Readonly<Record<string, string>>;

  constructor(studies: readonly StudyDefinition[], unitAliases: Readonly<Record<string, string>>) {
    this.#studies = new Map(studies.map((s) => [s.id, s]));
    this.#aliases = unitAliases;
  }

  derive(source: Observation, sourceRef: string, decision: Extract<RouteDecision, { retain: true }>): Observation[] {
    const records: Observation[] = [];
    for (const ref of decision.measures) {
      const study = this.#studies.get(ref.studyId);
      const measure = study?.measures.find((m) => m.id === ref.measureId);
      if (!study || !measure) continue;
      for (const enrollment of decision.enrollments.filter((e) => e.studyId === ref.studyId)) {
        try {
          records.push(
            deriveTrialRecord({ source, sourceRef, study, measure, enrollment, unitAliases: this.#aliases }),
          );
        } catch (err) {
          if (err instanceof AppError) {
            fail(unprocessable(`${err.code}: ${err.message}`, 'Observation.value'));
          }
          throw err;
        }
      }
    }
    return records;
  }
}
