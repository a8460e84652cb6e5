/**
 * A retained QuestionnaireResponse becomes a trial record: the answers exactly as received (item
 * identifiers and raw answers; PedsQL wording is licensed and never stored by the adapter), linked to
 * the study, ResearchSubject and the visit of its `authored` date, pointing back at its source.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import type { StudyDefinition, StudyForm } from '../mapping/study-definition.ts';
import { EXT_DERIVED_FROM, TRIAL_RECORD_IDENTIFIER_SYSTEM, TRIAL_RECORD_TAG } from '../mapping/trial-extensions.ts';
import type { Enrollment } from './enrollment.ts';
import { trialLinks, visitOf } from './trial-links.ts';
import { trialRecordId } from './trial-record.ts';

export interface DeriveResponseInput {
  source: QuestionnaireResponse;
  sourceRef: string;
  study: StudyDefinition;
  form: StudyForm;
  enrollment: Enrollment;
}

/** Item text is dropped: the trial keeps linkIds and answers, whatever the EHR's form displayed. */
function withoutText(items: QuestionnaireResponse['item']): QuestionnaireResponse['item'] {
  return items?.map(({ text: _t, item, answer, ...rest }) => ({
    ...rest,
    ...(item ? { item: withoutText(item) } : {}),
    ...(answer ? { answer: answer.map((a) => (a.item ? { ...a, item: withoutText(a.item) } : a)) } : {}),
  }));
}

export function deriveTrialResponse(input: DeriveResponseInput): QuestionnaireResponse {
  const { source, study, form, enrollment } = input;
  const id = trialRecordId(input.sourceRef, enrollment.researchSubjectId, form.id);
  const record: QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    id,
    meta: { tag: [TRIAL_RECORD_TAG] },
    extension: [
      ...trialLinks(study, enrollment, visitOf(source.authored, enrollment, study)),
      { url: EXT_DERIVED_FROM, valueReference: { reference: input.sourceRef } },
    ],
    identifier: { system: TRIAL_RECORD_IDENTIFIER_SYSTEM, value: id },
    questionnaire: form.questionnaire,
    status: source.status,
    subject: { reference: `Patient/${enrollment.patientId}` },
  };
  if (source.authored) record.authored = source.authored;
  if (source.author) record.author = source.author;
  if (source.source) record.source = source.source;
  const items = withoutText(source.item);
  if (items?.length) record.item = items;
  return record;
}
