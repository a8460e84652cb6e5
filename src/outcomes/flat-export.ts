/**
 * The flat analysis table: one row per ResearchSubject per scheduled visit, with the arm, the value
 * of each measure that counts at that visit (canonical unit), the outcomes at that visit and the
 * subject-level outcomes repeated on each of its rows, so a statistician can load it as is. Built
 * from the outcome summary rows the outcomes stage keeps; pure. Columns that reveal the arm are
 * written as "masked" for blinded callers (the same rule as src/auth/masking.ts), and so are those
 * computed from resources the caller may not read.
 */
import { type OutcomeCodeDef, outcomeCodes } from '../mapping/outcome-codes.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { MEASURE_KIND_PREFIX } from './compute-subject.ts';
import { OVERALL } from './outcome-value.ts';

export const MASKED = 'masked';
export const NOT_EVALUABLE = 'not-evaluable';

export interface FlatSubject {
  id: string;
  /** The subject's first identifier value (the study's enrolment number), if any. */
  identifier: string;
  status: string;
}

export interface FlatSummaryRow {
  visit: string;
  kind: string;
  category: string;
  value: number | null;
  arm: string;
}

export interface FlatColumn {
  name: string;
  description: string;
  /** UCUM unit of a numeric column. */
  unit?: string | undefined;
  /** Values a coded column takes. */
  values?: readonly string[] | undefined;
  /** Where the value comes from: a measure, an outcome code (trial-outcomes CodeSystem) or the subject. */
  source: string;
  /** Written as "masked" for outcome assessors. */
  armRevealing: boolean;
  /** The resource type the value is computed from, when the caller must be allowed to read it. */
  sourceType?: 'QuestionnaireResponse' | 'AdverseEvent' | undefined;
  /** "visit" when the value belongs to the row's visit, "subject" when it is the subject's overall value. */
  level: 'visit' | 'subject';
}

interface ColumnSpec extends FlatColumn {
  /** The summary kind this column reads, if it reads one. */
  kind?: string;
}

const columnName = (id: string): string => id.replace(/-/g, '_');

/** A column per published code that the declared outcome's rule puts in the table. */
function outcomeColumn(study: StudyDefinition, def: OutcomeCodeDef): ColumnSpec {
  const level = def.column === 'subject' ? 'subject' : 'visit';
  return {
    name: columnName(def.code),
    description: def.display,
    unit: def.unit,
    values: def.categories ? [...def.categories.map((c) => c.code), NOT_EVALUABLE] : undefined,
    source: `outcome ${def.code}`,
    // The rule's own say (drug levels) or the study's declaration (study.json armRevealing.outcomeKinds).
    armRevealing: def.armRevealing === true || study.armRevealing.outcomeKinds.includes(def.code),
    sourceType: def.sourceType,
    level,
    kind: def.code,
  };
}

function columnSpecs(study: StudyDefinition): ColumnSpec[] {
  const subject = (name: string, description: string, armRevealing = false): ColumnSpec => ({
    name,
    description,
    source: 'ResearchSubject',
    armRevealing,
    level: 'subject',
  });
  return [
    subject('study_id', 'Study (ResearchStudy id)'),
    subject('research_subject_id', 'ResearchSubject id'),
    subject('subject_identifier', 'Enrolment number (first ResearchSubject.identifier)'),
    subject('subject_status', 'ResearchSubject status'),
    { ...subject('arm', 'Assigned arm', true), values: study.arms.map((a) => a.name) },
    {
      name: 'visit',
      description: 'Scheduled visit (timepoint)',
      values: study.visits.map((v) => v.id),
      source: 'study visits',
      armRevealing: false,
      level: 'visit',
    },
    ...study.measures.map(
      (m): ColumnSpec => ({
        name: columnName(m.id),
        description: `${m.display}: the value that counts at the visit`,
        unit: m.unit,
        source: `measure ${m.id} (${m.codes.map((c) => c.code).join(', ')})`,
        armRevealing: study.armRevealing.measures.includes(m.id),
        level: 'visit',
        kind: `${MEASURE_KIND_PREFIX}${m.id}`,
      }),
    ),
    // Generated from the declared outcomes: visit-level columns, then subject-level ones.
    ...outcomeCodes(study)
      .filter((c) => c.column === 'visit')
      .map((c) => outcomeColumn(study, c)),
    ...outcomeCodes(study)
      .filter((c) => c.column === 'subject')
      .map((c) => outcomeColumn(study, c)),
    {
      name: 'ae_events',
      description: 'Adverse events recorded for the subject (all terms)',
      unit: '1',
      source: 'AdverseEvent',
      armRevealing: false,
      sourceType: 'AdverseEvent',
      level: 'subject',
      kind: 'ae-term',
    },
  ];
}

/** The data dictionary: every column in order, what it holds, its unit or values. */
export function flatColumns(study: StudyDefinition): FlatColumn[] {
  return columnSpecs(study).map(({ kind: _k, ...c }) => c);
}

function formatNumber(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}

function cellOf(rows: readonly FlatSummaryRow[]): string {
  const [first] = rows;
  if (!first) return '';
  if (first.kind === 'ae-term') return formatNumber(rows.reduce((n, r) => n + (r.value ?? 0), 0));
  if (first.value !== null) return formatNumber(first.value);
  return first.category;
}

/**
 * Columns a caller gets as "masked": arm-revealing ones when blinded (src/auth/masking.ts), and
 * those computed from a resource type the caller may not read (assessors read no forms or AEs).
 */
export function maskedColumns(
  study: StudyDefinition,
  blinded: boolean,
  canRead: (resourceType: string) => boolean,
): Set<string> {
  return new Set(
    flatColumns(study)
      .filter((c) => (blinded && c.armRevealing) || (c.sourceType !== undefined && !canRead(c.sourceType)))
      .map((c) => c.name),
  );
}

/** One row per visit of the study, cells in flatColumns order. */
export function flatRows(
  study: StudyDefinition,
  subject: FlatSubject,
  rows: readonly FlatSummaryRow[],
  masked: ReadonlySet<string>,
): string[][] {
  const specs = columnSpecs(study);
  const byKey = new Map<string, FlatSummaryRow[]>();
  for (const r of rows) {
    const key = `${r.visit}\u0000${r.kind}`;
    const list = byKey.get(key) ?? [];
    list.push(r);
    byKey.set(key, list);
  }
  const arm = rows[0]?.arm ?? '';
  const fixed: Record<string, string> = {
    study_id: study.id,
    research_subject_id: subject.id,
    subject_identifier: subject.identifier,
    subject_status: subject.status,
    arm: arm === 'unassigned' ? '' : arm,
  };
  return study.visits.map((visit) =>
    specs.map((c) => {
      let cell: string;
      if (c.name === 'visit') cell = visit.id;
      else if (c.kind === undefined) cell = fixed[c.name] ?? '';
      else cell = cellOf(byKey.get(`${c.level === 'subject' ? OVERALL : visit.id}\u0000${c.kind}`) ?? []);
      return masked.has(c.name) && cell !== '' ? MASKED : cell;
    }),
  );
}

/**
 * RFC 4180 field: quoted when it holds a comma, quote or line break. Text that a spreadsheet would
 * run as a formula (a leading =, +, @ or -, other than a number) gets a leading apostrophe.
 */
export function csvField(value: string): string {
  const safe = /^[=+@\t\r-]/.test(value) && !/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}
