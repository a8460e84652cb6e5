/**
 * Whether a resource reveals a subject's arm, decided once when it is stored, from what the study
 * declares (study.json armRevealing) and the same code mapping the gate routes by: a site's local
 * code, an HL7 v2 OBX code or a report's own code that maps to an arm-revealing measure reveals as
 * much as the LOINC code does. The answer is stored as a security label, which masking reads.
 */
import type {
  AdverseEvent,
  CodeableConcept,
  Coding,
  DiagnosticReport,
  Flag,
  Medication,
  Observation,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import type { RoutingTable } from './routing-table.ts';

const MEDICATION_TYPES: ReadonlySet<string> = new Set([
  'MedicationRequest',
  'MedicationStatement',
  'MedicationAdministration',
  'MedicationDispense',
]);

/** An adverse event names a drug's level only with one of these words next to the drug's name. */
const LEVEL_WORDS = ['level', 'trough', 'concentration', 'ng/ml'];

function mentions(text: string | undefined, terms: readonly string[]): boolean {
  if (!text) return false;
  const lower = text.toLowerCase();
  return terms.some((t) => lower.includes(t));
}

function conceptTexts(cc: CodeableConcept | undefined): string[] {
  if (!cc) return [];
  return [cc.text, ...(cc.coding ?? []).map((c) => c.display)].filter((t): t is string => typeof t === 'string');
}

/** A code or name for an arm-revealing drug level (a measure's code, a local code mapped to it, its name). */
function namesLevel(cc: CodeableConcept | undefined, table: RoutingTable): boolean {
  if (!cc) return false;
  const codings: Coding[] = cc.coding ?? [];
  if (table.measuresFor(codings).some((m) => table.revealsArmMeasure(m))) return true;
  if (codings.some((c) => table.revealsArmCode(c))) return true;
  return conceptTexts(cc).some((t) => mentions(t, table.armRevealingTerms));
}

function namesMedication(cc: CodeableConcept | undefined, table: RoutingTable): boolean {
  if (!cc) return false;
  if ((cc.coding ?? []).some((c) => table.revealsArmMedication(c))) return true;
  return conceptTexts(cc).some((t) => mentions(t, table.armRevealingTerms));
}

function observationReveals(o: Observation, table: RoutingTable): boolean {
  return namesLevel(o.code, table) || (o.component ?? []).some((c) => namesLevel(c.code, table));
}

function reportReveals(r: DiagnosticReport, table: RoutingTable): boolean {
  // The conclusion of a report on the level carries the level, whatever the report's own code.
  return (
    namesLevel(r.code, table) ||
    mentions(r.conclusion, table.armRevealingTerms) ||
    (r.conclusionCode ?? []).some((c) => namesLevel(c, table))
  );
}

function answersReveal(items: readonly QuestionnaireResponseItem[] | undefined, table: RoutingTable): boolean {
  for (const item of items ?? []) {
    for (const a of item.answer ?? []) {
      if (a.valueCoding && namesLevel({ coding: [a.valueCoding] }, table)) return true;
      if (answersReveal(a.item, table)) return true;
    }
    if (answersReveal(item.item, table)) return true;
  }
  return false;
}

function responseReveals(qr: QuestionnaireResponse, table: RoutingTable): boolean {
  if (table.formsFor(qr.questionnaire).some((f) => table.revealsArmForm(f))) return true;
  return answersReveal(qr.item, table);
}

function adverseEventReveals(ae: AdverseEvent, table: RoutingTable): boolean {
  const texts = [...conceptTexts(ae.event), ...(ae.suspectEntity ?? []).map((s) => s.instance.display)];
  const namesDrugLevel = texts.some((t) => mentions(t, table.armRevealingTerms) && mentions(t, LEVEL_WORDS));
  const codings = ae.event?.coding ?? [];
  return (
    namesDrugLevel ||
    table.measuresFor(codings).some((m) => table.revealsArmMeasure(m)) ||
    codings.some((c) => table.revealsArmCode(c))
  );
}

function medicationUseReveals(r: Resource, table: RoutingTable): boolean {
  const use = r as Resource & { medicationCodeableConcept?: CodeableConcept; medicationReference?: Reference };
  if (use.medicationCodeableConcept) return namesMedication(use.medicationCodeableConcept, table);
  const ref = use.medicationReference;
  if (ref?.reference?.startsWith('#')) {
    const contained = (r as { contained?: Resource[] }).contained?.find((c) => `#${c.id}` === ref.reference);
    if (contained?.resourceType === 'Medication') return namesMedication((contained as Medication).code, table);
  }
  // A medication held elsewhere cannot be told apart here: a dose of the study drug must not leak.
  return true;
}

export function revealsArm(resource: Resource, table: RoutingTable): boolean {
  switch (resource.resourceType) {
    case 'Observation':
      return observationReveals(resource, table);
    case 'DiagnosticReport':
      return reportReveals(resource, table);
    case 'QuestionnaireResponse':
      return responseReveals(resource, table);
    case 'AdverseEvent':
      return adverseEventReveals(resource, table);
    case 'Medication':
      return namesMedication(resource.code, table);
    case 'Flag':
      return namesLevel((resource as Flag).code, table);
    default:
      return MEDICATION_TYPES.has(resource.resourceType) && medicationUseReveals(resource, table);
  }
}

export function hasLabel(resource: Resource): boolean {
  return (resource.meta?.security ?? []).some(
    (c) => c.system === ARM_REVEALING_SECURITY_LABEL.system && c.code === ARM_REVEALING_SECURITY_LABEL.code,
  );
}

export function addArmRevealingLabel<T extends Resource>(resource: T): T {
  if (hasLabel(resource)) return resource;
  const security = [...(resource.meta?.security ?? []), { ...ARM_REVEALING_SECURITY_LABEL }];
  return { ...resource, meta: { ...resource.meta, security } };
}

/** The resource as it is stored: labelled arm-revealing when it reveals the arm, untouched otherwise. */
export function withArmRevealingLabel<T extends Resource>(resource: T, table: RoutingTable): T {
  if (hasLabel(resource) || !revealsArm(resource, table)) return resource;
  return addArmRevealingLabel(resource);
}

/** The references a report lists its results by. */
export function reportResultRefs(resource: Resource): string[] {
  if (resource.resourceType !== 'DiagnosticReport') return [];
  return (resource.result ?? []).map((r) => r.reference).filter((r): r is string => typeof r === 'string');
}
