/**
 * Per arm and visit, a MeasureReport (type summary) of the study's declared outcomes, citing the
 * study's Measure (measure.ts) and taking its groups from it: subjects per category of a coded
 * outcome, subjects and median of a quantity, adverse events per term. Built from the outcome
 * summary aggregate; pure. Per-arm reports reveal the arm, so they carry the arm-revealing label
 * that masks them from assessors.
 */
import type { MeasureReport, MeasureReportGroup } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { OUTCOME_SYSTEM } from '../mapping/outcome-codes.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { EXT_RESEARCH_STUDY, EXT_VISIT, PROJECT_BASE, VISIT_SYSTEM } from '../mapping/trial-extensions.ts';
import type { AggregateRow } from '../store/outcome-store.ts';
import { AE_TERM_KIND, measureGroups, measureUrl, MEASURE_POPULATION as POPULATION } from './measure.ts';
import { OUTCOME_IDENTIFIER_SYSTEM, OUTCOME_TAG } from './outcome-resources.ts';

export const EXT_ARM = `${PROJECT_BASE}/StructureDefinition/arm`;

export function measureReportId(studyId: string, arm: string, visit: string): string {
  return `mr-${studyId}-${arm}-${visit}`.slice(0, 64);
}

function group(kind: string, display: string, rows: readonly AggregateRow[]): MeasureReportGroup {
  const subjects = rows.reduce((n, r) => n + r.count, 0);
  const g: MeasureReportGroup = {
    code: { coding: [{ system: OUTCOME_SYSTEM, code: kind, display }], text: kind },
    population: [{ code: POPULATION, count: subjects }],
  };
  // A quantity outcome's values are one row without a category (its median); a subject whose value
  // could not be evaluated is a category row beside it ("not-evaluable").
  const measured = rows.find((r) => r.category === '');
  const median = measured?.median;
  if (median !== null && median !== undefined)
    g.measureScore = { value: Math.round(median * 1000) / 1000, unit: 'median' };
  const categories = rows.filter((r) => r.category !== '');
  if (categories.length > 0) {
    g.stratifier = [
      {
        code: [
          { text: kind === AE_TERM_KIND ? 'adverse event term (population: subjects; score: events)' : 'category' },
        ],
        // R4 JSON has no empty strings: the measured subjects of a mixed outcome are the stratum
        // "measured" (with their median), never a stratum with value.text "".
        stratum: [
          ...(measured
            ? [
                {
                  value: { text: 'measured' },
                  population: [{ code: POPULATION, count: measured.count }],
                  ...(g.measureScore ? { measureScore: g.measureScore } : {}),
                },
              ]
            : []),
          ...categories.map((r) => ({
            value: { text: r.category },
            population: [{ code: POPULATION, count: r.count }],
            ...(kind === AE_TERM_KIND ? { measureScore: { value: r.sum ?? r.count, unit: 'events' } } : {}),
          })),
        ],
      },
    ];
  }
  return g;
}

export function buildMeasureReports(
  study: StudyDefinition,
  rows: readonly AggregateRow[],
  date: string,
): MeasureReport[] {
  const byArmVisit = new Map<string, AggregateRow[]>();
  for (const r of rows) {
    const key = `${r.arm}\u0000${r.visit}`;
    const list = byArmVisit.get(key) ?? [];
    list.push(r);
    byArmVisit.set(key, list);
  }
  // The Measure's groups: an outcome no longer declared (left in the aggregate) is not reported.
  const declared = new Map(measureGroups(study).map((g) => [g.code, g.display]));
  const reports: MeasureReport[] = [];
  for (const [key, list] of [...byArmVisit].sort(([a], [b]) => a.localeCompare(b))) {
    const [arm, visit] = key.split('\u0000') as [string, string];
    const kinds = [...new Set(list.map((r) => r.kind))].filter((k) => declared.has(k)).sort();
    const id = measureReportId(study.id, arm, visit);
    reports.push({
      resourceType: 'MeasureReport',
      id,
      identifier: [{ system: OUTCOME_IDENTIFIER_SYSTEM, value: id }],
      meta: { tag: [OUTCOME_TAG], security: [ARM_REVEALING_SECURITY_LABEL] },
      extension: [
        { url: EXT_RESEARCH_STUDY, valueReference: { reference: `ResearchStudy/${study.id}` } },
        { url: EXT_ARM, valueString: arm },
        { url: EXT_VISIT, valueCoding: { system: VISIT_SYSTEM, code: visit } },
      ],
      status: 'complete',
      type: 'summary',
      measure: measureUrl(study),
      date,
      period: { start: study.startDate, end: date.slice(0, 10) },
      // No empty array (R4 JSON): a report with no declared outcome left has no group.
      ...(kinds.length > 0
        ? {
            group: kinds.map((k) =>
              group(
                k,
                declared.get(k) ?? k,
                list.filter((r) => r.kind === k),
              ),
            ),
          }
        : {}),
    });
  }
  return reports;
}

/**
 * The report for an (arm, visit) no subject contributes to any more (its last subject left, or its
 * values were retracted): each outcome it reported is now counted over zero subjects, so a client
 * holding the old numbers sees them replaced rather than left standing.
 */
export function emptiedMeasureReport(previous: MeasureReport, date: string): MeasureReport {
  const { meta, group: groups, ...rest } = previous;
  const kept = { ...(meta?.tag ? { tag: meta.tag } : {}), ...(meta?.security ? { security: meta.security } : {}) };
  return {
    ...rest,
    ...(Object.keys(kept).length > 0 ? { meta: kept } : {}),
    date,
    period: { ...previous.period, end: date.slice(0, 10) },
    ...(groups && groups.length > 0
      ? {
          group: groups.map((g) => ({
            ...(g.code ? { code: g.code } : {}),
            population: [{ code: POPULATION, count: 0 }],
          })),
        }
      : {}),
  };
}
