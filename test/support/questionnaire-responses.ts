/** Questionnaire responses WRITTEN FOR THE TESTS (an invented child's answers; item ids only). */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';

/** A complete PedsQL Infant Scales (1–12 months) response, every item answered `value`. */
export function pedsqlInfantResponse(id: string, patient: string, value = 1): QuestionnaireResponse {
  const answers = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ linkId: `${prefix}${i + 1}`, answer: [{ valueInteger: value }] }));
  return {
    resourceType: 'QuestionnaireResponse',
    id,
    questionnaire: 'https://khe-trial.example.org/fhir/Questionnaire/pedsql-infant-1-12m',
    status: 'completed',
    subject: { reference: `Patient/${patient}` },
    authored: '2022-02-09T10:00:00+08:00',
    item: [
      { linkId: 'PF', item: answers('PF', 6) },
      { linkId: 'PS', item: answers('PS', 10) },
      { linkId: 'EF', item: answers('EF', 12) },
      { linkId: 'SF', item: answers('SF', 2) },
      { linkId: 'CF', item: answers('CF', 4) },
    ],
  };
}
