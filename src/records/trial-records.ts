/**
 * Derives the trial records of a retained source for every enrollment (and, for results, every
 * measure) the ingest gate found: Observations per measure, QuestionnaireResponses per study form,
 * AdverseEvents per study. Each failure becomes the 422 the feed receives, and nothing is stored.
 */
import type {
  AdverseEvent,
  Observation,
  OperationOutcome,
  Questionnaire,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { compileProfileCheck, type ProfileCheck } from '../fhir/profile-invariants.ts';
import { measureResultProfileUrl, trialRecordProfileUrl } from '../mapping/profile-build/measure-specs.ts';
import type { ProfileRegistry } from '../mapping/profiles.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { AppError } from '../shared/app-error.ts';
import { fail, unprocessable } from '../shared/outcomes.ts';
import type { RetainedRoute } from './enrollment.ts';
import { checkQuestionnaireAnswers } from './questionnaire-answers.ts';
import { checkAdverseEvent, deriveTrialAdverseEvent } from './trial-adverse-event.ts';
import { deriveTrialRecord } from './trial-record.ts';
import { deriveTrialResponse } from './trial-response.ts';

function unprocessableAll(issues: { path: string; message: string }[]): never {
  const outcome: OperationOutcome = unprocessable(issues.map((i) => i.message).join('; '));
  fail({
    ...outcome,
    issue: issues.map((i) => ({
      severity: 'error',
      code: 'invalid',
      details: { text: i.message },
      expression: [i.path],
    })),
  });
}

export class TrialRecordDeriver {
  readonly #studies: Map<string, StudyDefinition>;
  readonly #aliases: Readonly<Record<string, string>>;
  readonly #questionnaires: Map<string, Questionnaire>;
  readonly #profiles: ProfileRegistry | undefined;
  readonly #checks = new Map<string, ProfileCheck | undefined>();

  constructor(
    studies: readonly StudyDefinition[],
    unitAliases: Readonly<Record<string, string>>,
    questionnaires: readonly Questionnaire[] = [],
    profiles?: ProfileRegistry,
  ) {
    this.#studies = new Map(studies.map((s) => [s.id, s]));
    this.#aliases = unitAliases;
    this.#questionnaires = new Map(questionnaires.map((q) => [q.url as string, q]));
    this.#profiles = profiles;
  }

  derive(source: Resource, sourceRef: string, decision: RetainedRoute): Resource[] {
    switch (source.resourceType) {
      case 'Observation':
        return this.#observation(source, sourceRef, decision);
      case 'QuestionnaireResponse':
        return this.#response(source, sourceRef, decision);
      case 'AdverseEvent':
        return this.#adverseEvent(source, sourceRef, decision);
      default:
        return [];
    }
  }

  #check(url: string): ProfileCheck | undefined {
    if (!this.#checks.has(url)) {
      const sd = this.#profiles?.get(url);
      this.#checks.set(url, sd ? compileProfileCheck(sd) : undefined);
    }
    return this.#checks.get(url);
  }

  #observation(source: Observation, sourceRef: string, decision: RetainedRoute): Observation[] {
    const records: Observation[] = [];
    for (const ref of decision.measures) {
      const study = this.#studies.get(ref.studyId);
      const measure = study?.measures.find((m) => m.id === ref.measureId);
      if (!study || !measure) continue;
      // What the trial needs from the received result (profiles/measure-result-<study>-<id>).
      const problem = this.#check(measureResultProfileUrl(study.id, measure.id))?.check(source);
      if (problem) fail(problem);
      for (const enrollment of decision.enrollments.filter((e) => e.studyId === ref.studyId)) {
        try {
          const record = deriveTrialRecord({
            source,
            sourceRef,
            study,
            measure,
            enrollment,
            unitAliases: this.#aliases,
          });
          const profile = trialRecordProfileUrl(study.id, measure.id);
          if (this.#profiles?.has(profile)) record.meta = { ...record.meta, profile: [profile] };
          records.push(record);
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

  #response(source: QuestionnaireResponse, sourceRef: string, decision: RetainedRoute): QuestionnaireResponse[] {
    const out: QuestionnaireResponse[] = [];
    for (const ref of decision.forms ?? []) {
      const study = this.#studies.get(ref.studyId);
      const form = study?.forms.find((f) => f.id === ref.formId);
      const questionnaire = this.#questionnaires.get(ref.questionnaire);
      if (!study || !form || !questionnaire) continue;
      if (source.status !== 'entered-in-error') {
        const issues = checkQuestionnaireAnswers(questionnaire, source);
        if (issues.length > 0) unprocessableAll(issues);
      }
      for (const enrollment of decision.enrollments.filter((e) => e.studyId === ref.studyId)) {
        out.push(deriveTrialResponse({ source, sourceRef, study, form, enrollment }));
      }
    }
    return out;
  }

  #adverseEvent(source: AdverseEvent, sourceRef: string, decision: RetainedRoute): AdverseEvent[] {
    const issues = checkAdverseEvent(source);
    if (issues.length > 0) unprocessableAll(issues);
    const out: AdverseEvent[] = [];
    for (const enrollment of decision.enrollments) {
      const study = this.#studies.get(enrollment.studyId);
      if (study) out.push(deriveTrialAdverseEvent(source, sourceRef, study, enrollment));
    }
    return out;
  }
}
