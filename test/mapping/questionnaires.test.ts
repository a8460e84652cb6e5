import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateResource } from '@medplum/core';
import type { Questionnaire, QuestionnaireItem } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { checkStudyForms, loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { pedsqlLayout } from '../../src/outcomes/compute/forms.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const all = (items: readonly QuestionnaireItem[] | undefined): QuestionnaireItem[] =>
  (items ?? []).flatMap((i) => [i, ...all(i.item)]);

describe('mappings/questionnaires', () => {
  let qs: Questionnaire[];
  beforeAll(async () => {
    loadFhirDefinitions();
    qs = await loadQuestionnaires(join(ROOT, 'mappings/questionnaires'));
  });

  it('are valid R4 Questionnaires, and every study form has one', async () => {
    expect(qs.length).toBe(8);
    for (const q of qs) expect(() => validateResource(JSON.parse(JSON.stringify(q))), q.id).not.toThrow();
    const studies = await loadStudyDefinitions(join(ROOT, 'mappings/studies'));
    expect(() => checkStudyForms(studies, qs)).not.toThrow();
    expect(() => checkStudyForms(studies, qs.slice(1))).toThrow(/MAPPING_QUESTIONNAIRE_MISSING|no Questionnaire/);
  });

  it.each([
    ['pedsql-gc-toddler', { PF: 8, EF: 5, SF: 5, SC: 3 }],
    ['pedsql-gc-child', { PF: 8, EF: 5, SF: 5, SC: 5 }],
    ['pedsql-infant-1-12m', { PF: 6, PS: 10, EF: 12, SF: 4, CF: 4 }],
    ['pedsql-infant-13-24m', { PF: 9, PS: 10, EF: 12, SF: 5, CF: 9 }],
  ])('%s has the scoring manual’s scales and item counts, answers 0–4, and no item wording', (id, counts) => {
    const q = qs.find((x) => x.id === id) as Questionnaire;
    const { scales, summaries } = pedsqlLayout(q);
    expect(Object.fromEntries(scales.map((s) => [s.id, s.items.length]))).toEqual(counts);
    expect(Object.keys(summaries).sort()).toEqual(['physical', 'psychosocial']);
    for (const item of all(q.item).filter((i) => i.type !== 'group')) {
      expect(item.text, item.linkId).toBeUndefined();
      expect(item.answerOption?.map((o) => o.valueInteger)).toEqual([0, 1, 2, 3, 4]);
    }
    // The licensed wording must never reach the repository, whatever the file says elsewhere.
    expect(readFileSync(join(ROOT, 'mappings/questionnaires', `${id}.json`), 'utf8')).not.toMatch(
      /"text": "(?!Physical|Emotional|Social|School|Cognitive)/,
    );
  });
});
