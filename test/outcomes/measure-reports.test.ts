// Fixtures WRITTEN FOR THE TESTS (invented counts).
import type { MeasureReport } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { buildMeasureReports, emptiedMeasureReport } from '../../src/outcomes/measure-reports.ts';
import type { AggregateRow } from '../../src/store/outcome-store.ts';
import { outgoingProblem } from '../../src/writeback/outgoing-resource.ts';

const [study] = await loadStudyDefinitions('mappings/studies');
if (!study) throw new Error('no study');

const row = (arm: string, visit: string, kind: string, category: string, count: number, median: number | null = null) =>
  ({ arm, visit, kind, category, count, median, sum: null }) as AggregateRow;

describe('per-arm MeasureReports', () => {
  it('builds one report per (arm, visit) with a group per outcome kind', () => {
    const reports = buildMeasureReports(
      study,
      [
        row('low-dose', 'month-6', 'volume-response', 'partial-response', 2),
        row('low-dose', 'month-6', 'volume-response', 'stable-disease', 1),
        row('low-dose', 'month-6', 'time-in-range', '', 3, 0.6667),
        row('regular-dose', 'month-6', 'time-in-range', '', 1, 0.5),
      ],
      '2023-01-01T00:00:00.000Z',
    );
    expect(reports.map((r) => r.id)).toEqual([
      'mr-nct04775173-low-dose-month-6',
      'mr-nct04775173-regular-dose-month-6',
    ]);
    const low = reports[0] as MeasureReport;
    expect(low.group?.map((g) => [g.code?.text, g.population?.[0]?.count, g.measureScore?.value])).toEqual([
      ['time-in-range', 3, 0.667],
      ['volume-response', 3, undefined],
    ]);
  });

  it('cites the study’s Measure and reports only the outcomes it declares, with their declared names', () => {
    const [r] = buildMeasureReports(
      study,
      [
        row('low-dose', 'month-3', 'km-response', 'response', 2),
        // Left in the aggregate by an outcome since removed from study.json.
        row('low-dose', 'month-3', 'old-outcome', '', 2, 1),
      ],
      '2023-01-01T00:00:00.000Z',
    ) as [MeasureReport];
    expect(r.measure).toBe(`https://khe-trial.example.org/fhir/Measure/${study.measureId}`);
    expect(r.group?.map((g) => g.code?.coding?.[0])).toEqual([
      {
        system: 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes',
        code: 'km-response',
        display: 'Kasabach-Merritt haematological response',
      },
    ]);
  });

  it('counts a report whose last subject left over zero subjects, keeping its identity and labels', () => {
    const [before] = buildMeasureReports(
      study,
      [
        row('regular-dose', 'overall', 'ae-term', 'Mucositis oral', 1),
        row('regular-dose', 'overall', 'ae-worst-grade', '', 1, 3),
      ],
      '2023-01-01T00:00:00.000Z',
    ) as [MeasureReport];
    const stored = { ...before, meta: { ...before.meta, versionId: '4', lastUpdated: '2023-01-01T00:00:01Z' } };
    const after = emptiedMeasureReport(stored, '2023-02-01T00:00:00.000Z');
    expect(after.id).toBe(before.id);
    expect(after.identifier).toEqual(before.identifier);
    expect(after.extension).toEqual(before.extension);
    expect(after.meta).toEqual({ tag: before.meta?.tag, security: before.meta?.security });
    expect(after.date).toBe('2023-02-01T00:00:00.000Z');
    expect(after.period?.end).toBe('2023-02-01');
    expect(after.group?.map((g) => [g.code?.text, g.population?.[0]?.count, g.stratifier, g.measureScore])).toEqual([
      ['ae-term', 0, undefined, undefined],
      ['ae-worst-grade', 0, undefined, undefined],
    ]);
  });

  it('reports the measured subjects of a partly evaluable quantity outcome as a stratum, never value.text ""', () => {
    const [r] = buildMeasureReports(
      study,
      [
        row('low-dose', 'month-6', 'time-in-range', '', 3, 0.6667),
        row('low-dose', 'month-6', 'time-in-range', 'not-evaluable', 1),
      ],
      '2023-01-01T00:00:00.000Z',
    ) as [MeasureReport];
    const g = r.group?.[0];
    expect(g?.population?.[0]?.count).toBe(4);
    expect(g?.measureScore).toEqual({ value: 0.667, unit: 'median' });
    expect(
      g?.stratifier?.[0]?.stratum?.map((st) => [st.value?.text, st.population?.[0]?.count, st.measureScore?.value]),
    ).toEqual([
      ['measured', 3, 0.667],
      ['not-evaluable', 1, undefined],
    ]);
    expect(outgoingProblem(r)).toBeUndefined();
  });

  it('leaves out an empty group list (a report with no declared outcome, emptied or built)', () => {
    const [r] = buildMeasureReports(
      study,
      [row('low-dose', 'month-3', 'old-outcome', '', 2, 1)],
      '2023-01-01T00:00:00.000Z',
    ) as [MeasureReport];
    expect(r.group).toBeUndefined();
    expect(outgoingProblem(r)).toBeUndefined();
    const emptied = emptiedMeasureReport({ ...r, meta: { versionId: '2' } }, '2023-02-01T00:00:00.000Z');
    expect(emptied.group).toBeUndefined();
    expect(emptied.meta).toBeUndefined();
    expect(outgoingProblem(emptied)).toBeUndefined();
  });
});
