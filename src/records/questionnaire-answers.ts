/**
 * Checks a QuestionnaireResponse against its Questionnaire: every linkId known, answers of the
 * item's type, only allowed options, numeric limits (minValue/maxValue extensions), one answer
 * unless the item repeats, and required items answered once the form is completed. Pure.
 * Source: FHIR R4 Questionnaire/QuestionnaireResponse (item.type, answerOption, required, repeats).
 */
import type {
  Coding,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';

export interface AnswerIssue {
  linkId: string;
  /** FHIRPath-like location in the response, for the OperationOutcome expression. */
  path: string;
  message: string;
}

const EXT_MIN = 'http://hl7.org/fhir/StructureDefinition/minValue';
const EXT_MAX = 'http://hl7.org/fhir/StructureDefinition/maxValue';

/** The answer value[x] keys each item type accepts. */
const VALUE_KEYS: Record<string, readonly string[]> = {
  boolean: ['valueBoolean'],
  decimal: ['valueDecimal'],
  integer: ['valueInteger'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
  time: ['valueTime'],
  string: ['valueString'],
  text: ['valueString'],
  url: ['valueUri'],
  choice: ['valueCoding', 'valueInteger', 'valueString', 'valueDate', 'valueTime'],
  'open-choice': ['valueCoding', 'valueInteger', 'valueString', 'valueDate', 'valueTime'],
  attachment: ['valueAttachment'],
  reference: ['valueReference'],
  quantity: ['valueQuantity'],
};

type AnswerValue = { key: string; value: unknown };

function answerValue(a: QuestionnaireResponseItemAnswer): AnswerValue | undefined {
  for (const [key, value] of Object.entries(a)) {
    if (key.startsWith('value') && value !== undefined) return { key, value };
  }
  return undefined;
}

function sameOption(item: QuestionnaireItem, v: AnswerValue): boolean {
  return (item.answerOption ?? []).some((o) => {
    if (v.key === 'valueCoding') {
      const c = v.value as Coding;
      return o.valueCoding?.code === c.code && (o.valueCoding?.system ?? '') === (c.system ?? '');
    }
    return (o as Record<string, unknown>)[v.key] === v.value;
  });
}

function limit(item: QuestionnaireItem, url: string): number | undefined {
  const e = item.extension?.find((x) => x.url === url);
  return e?.valueInteger ?? e?.valueDecimal;
}

function checkAnswer(
  item: QuestionnaireItem,
  a: QuestionnaireResponseItemAnswer,
  path: string,
  out: AnswerIssue[],
): void {
  const linkId = item.linkId ?? '';
  const v = answerValue(a);
  if (!v) {
    out.push({ linkId, path, message: `item ${linkId}: an answer must have a value` });
    return;
  }
  const allowed = VALUE_KEYS[item.type ?? ''] ?? [];
  if (!allowed.includes(v.key)) {
    out.push({
      linkId,
      path,
      message: `item ${linkId} is of type ${item.type}: ${v.key} is not an answer of that type`,
    });
    return;
  }
  const openString = item.type === 'open-choice' && v.key === 'valueString';
  if (item.answerOption?.length && !openString && !sameOption(item, v)) {
    out.push({ linkId, path, message: `item ${linkId}: ${JSON.stringify(v.value)} is not one of the allowed answers` });
  }
  if (typeof v.value === 'number') {
    const min = limit(item, EXT_MIN);
    const max = limit(item, EXT_MAX);
    if ((min !== undefined && v.value < min) || (max !== undefined && v.value > max)) {
      out.push({ linkId, path, message: `item ${linkId}: ${v.value} is outside ${min ?? '-∞'}–${max ?? '∞'}` });
    }
  }
}

function checkItems(
  defs: readonly QuestionnaireItem[],
  answers: readonly QuestionnaireResponseItem[],
  path: string,
  completed: boolean,
  out: AnswerIssue[],
): void {
  const byLinkId = new Map(defs.map((d) => [d.linkId, d]));
  answers.forEach((ri, i) => {
    const here = `${path}.item[${i}]`;
    const def = byLinkId.get(ri.linkId);
    if (!def) {
      out.push({ linkId: ri.linkId ?? '', path: here, message: `unknown linkId ${ri.linkId}` });
      return;
    }
    const given = ri.answer ?? [];
    if ((def.type === 'group' || def.type === 'display') && given.length > 0) {
      out.push({
        linkId: def.linkId ?? '',
        path: here,
        message: `item ${def.linkId} is a ${def.type}: it takes no answer`,
      });
    }
    if (given.length > 1 && !def.repeats) {
      out.push({
        linkId: def.linkId ?? '',
        path: here,
        message: `item ${def.linkId} does not repeat: one answer only`,
      });
    }
    given.forEach((a, j) => {
      checkAnswer(def, a, `${here}.answer[${j}]`, out);
      if (a.item?.length) checkItems(def.item ?? [], a.item, `${here}.answer[${j}]`, completed, out);
    });
    if (ri.item?.length) checkItems(def.item ?? [], ri.item, here, completed, out);
  });
  if (!completed) return;
  for (const d of defs) {
    if (!d.required) continue;
    const present = answers.filter((a) => a.linkId === d.linkId);
    const answered = present.some((a) => (a.answer?.length ?? 0) > 0 || (a.item?.length ?? 0) > 0);
    if (!answered) out.push({ linkId: d.linkId ?? '', path, message: `required item ${d.linkId} is not answered` });
  }
}

export function checkQuestionnaireAnswers(q: Questionnaire, qr: QuestionnaireResponse): AnswerIssue[] {
  const out: AnswerIssue[] = [];
  const completed = qr.status === 'completed' || qr.status === 'amended';
  checkItems(q.item ?? [], qr.item ?? [], 'QuestionnaireResponse', completed, out);
  return out;
}
