/**
 * Questionnaires in mappings/questionnaires/: the forms studies collect. Each study's `forms` names
 * its Questionnaires by canonical URL, and start-up fails if one is missing, so a
 * QuestionnaireResponse is never checked against a form that is not there.
 */
import type { Questionnaire } from '@medplum/fhirtypes';
import { appError } from '../shared/app-error.ts';
import { readJsonFolder } from './read-json-folder.ts';
import type { StudyDefinition } from './study-definition.ts';

export async function loadQuestionnaires(dir = 'mappings/questionnaires'): Promise<Questionnaire[]> {
  const out: Questionnaire[] = [];
  for (const { file, value: q } of await readJsonFolder<Questionnaire>(dir, 'MAPPING_QUESTIONNAIRE_INVALID')) {
    if (q.resourceType !== 'Questionnaire' || !q.url || !q.item?.length) {
      throw appError('MAPPING_QUESTIONNAIRE_INVALID', `${file}: not a Questionnaire with a url and items`);
    }
    if (out.some((o) => o.url === q.url)) {
      throw appError('MAPPING_QUESTIONNAIRE_INVALID', `${file}: ${q.url} is defined twice`);
    }
    out.push(q);
  }
  return out;
}

/** Every form a study names must have its Questionnaire. */
export function checkStudyForms(studies: readonly StudyDefinition[], questionnaires: readonly Questionnaire[]): void {
  const urls = new Set(questionnaires.map((q) => q.url));
  for (const s of studies) {
    for (const f of s.forms) {
      if (!urls.has(f.questionnaire)) {
        throw appError('MAPPING_QUESTIONNAIRE_MISSING', `${f.questionnaire} (study ${s.id} form ${f.id})`);
      }
    }
  }
}
