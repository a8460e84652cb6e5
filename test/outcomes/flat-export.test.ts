// Fixtures WRITTEN FOR THE TESTS (invented children and results, including the sirolimus troughs
// and fibrinogen values, which the public corpus does not have).
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import type { StudyDefinition } from '../../src/mapping/study-definition.ts';
import { csvField, flatColumns, flatRows, MASKED, maskedColumns } from '../../src/outcomes/flat-export.ts';
import { readSummaryBatch } from '../../src/store/outcome-store.ts';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const UCUM = 'http://unitsofmeasure.org';

function lab(patient: string, code: string, value: number, unit: string, date: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: UCUM, code: unit },
  };
}

function parseCsv(text: string): Record<string, string>[] {
  const lines = text.trimEnd().split('\r\n');
  const header = (lines[0] ?? '').split(',');
  return lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i] as string, v])));
}

describe('flat export rules', () => {
  let study: StudyDefinition;
  beforeAll(async () => {
    [study] = (await loadStudyDefinitions('mappings/studies')) as [StudyDefinition];
  });

  it('quotes CSV fields and defuses spreadsheet formulas, but leaves negative numbers alone', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('+1-555')).toBe("'+1-555");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('-12.5')).toBe('-12.5');
    expect(csvField('-1e-7')).toBe('-1e-7');
  });

  it('describes every column, with units for measures and values for categories', () => {
    const cols = flatColumns(study);
    const byName = new Map(cols.map((c) => [c.name, c]));
    expect(cols[0]?.name).toBe('study_id');
    expect(byName.get('platelets')).toMatchObject({ unit: '10*9/L', level: 'visit', armRevealing: false });
    expect(byName.get('sirolimus_trough')).toMatchObject({ unit: 'ng/mL', armRevealing: true });
    expect(byName.get('volume_response')?.values).toContain('partial-involution');
    expect(byName.get('time_in_range')).toMatchObject({ level: 'subject', armRevealing: true, unit: '%' });
    expect(byName.get('arm')).toMatchObject({ armRevealing: true, values: ['low-dose', 'regular-dose'] });
    expect(new Set(cols.map((c) => c.name)).size).toBe(cols.length);
  });

  it('gives one row per visit, subject-level values on each, arm-revealing cells masked when blinded', () => {
    const rows = [
      { visit: 'baseline', kind: 'measure:platelets', category: '', value: 20, arm: 'low-dose' },
      { visit: 'month-1', kind: 'measure:sirolimus-trough', category: '', value: 7.5, arm: 'low-dose' },
      { visit: 'month-3', kind: 'volume-response', category: 'partial-involution', value: null, arm: 'low-dose' },
      { visit: 'month-6', kind: 'volume-response', category: 'not-evaluable', value: null, arm: 'low-dose' },
      { visit: 'overall', kind: 'time-in-range', category: '', value: 62.5, arm: 'low-dose' },
      { visit: 'overall', kind: 'ae-term', category: 'Mucositis oral', value: 2, arm: 'low-dose' },
      { visit: 'overall', kind: 'ae-term', category: 'Fever', value: 1, arm: 'low-dose' },
    ];
    const subject = { id: 'rs-1', identifier: 'KHE-001', status: 'on-study' };
    const names = flatColumns(study).map((c) => c.name);
    const asRecords = (blinded: boolean) =>
      flatRows(
        study,
        subject,
        rows,
        maskedColumns(study, blinded, (t) => !blinded || t === 'Observation'),
      ).map((cells) => Object.fromEntries(cells.map((v, i) => [names[i], v])));
    const open = asRecords(false);
    expect(open.map((r) => r.visit)).toEqual(['baseline', 'month-1', 'month-3', 'month-6', 'month-12']);
    expect(open[0]).toMatchObject({ arm: 'low-dose', platelets: '20', subject_identifier: 'KHE-001' });
    expect(open[1]).toMatchObject({ sirolimus_trough: '7.5', platelets: '' });
    expect(open[2]?.volume_response).toBe('partial-involution');
    expect(open[3]?.volume_response).toBe('not-evaluable');
    expect(open.every((r) => r.time_in_range === '62.5' && r.ae_events === '3')).toBe(true);
    const blind = asRecords(true);
    expect(blind[0]).toMatchObject({ arm: MASKED, platelets: '20' });
    expect(blind[1]?.sirolimus_trough).toBe(MASKED);
    expect(blind[0]?.sirolimus_trough).toBe('');
    expect(blind.every((r) => r.time_in_range === MASKED && r.ae_events === MASKED)).toBe(true);
  });

  it('masks columns from resource types the caller may not read, and only those', () => {
    expect([...maskedColumns(study, false, () => true)]).toEqual([]);
    expect([...maskedColumns(study, false, (t) => t !== 'AdverseEvent')].sort()).toEqual([
      'ae_events',
      'ae_worst_grade',
    ]);
    expect(maskedColumns(study, true, () => true)).toEqual(
      new Set(['arm', 'sirolimus_trough', 'time_in_range', 'troughs_in_range']),
    );
    expect(maskedColumns(study, false, (t) => t !== 'QuestionnaireResponse')).toEqual(
      new Set(['pedsql_total', 'pedsql_physical', 'pedsql_psychosocial', 'msk_score', 'msk_change']),
    );
  });
});

describe('flat export over HTTP', () => {
  let s: TestService;
  const subjects: Record<string, string> = {};
  const push = async (o: Observation) => {
    const r = await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(o) });
    expect(r.status, await r.clone().text()).toBe(201);
  };

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    subjects.a = await enroll(s, 'fx-a', {
      birthDate: '2019-05-01',
      start: '2022-01-10',
      arm: 'low-dose',
      identifier: { system: 'urn:mrn', value: 'A1' },
    });
    subjects.b = await enroll(s, 'fx-b', { birthDate: '2020-02-01', start: '2022-02-01', arm: 'regular-dose' });
    // A: platelets 20 at baseline, 150 at month 1 (Kasabach-Merritt response); fibrinogen in mg/dL.
    await push(lab('fx-a', '777-3', 20, '10*9/L', '2022-01-08T08:00:00+08:00'));
    await push(lab('fx-a', '777-3', 150, '10*9/L', '2022-02-09T08:00:00+08:00'));
    await push(lab('fx-a', '3255-7', 100, 'mg/dL', '2022-01-08T08:00:00+08:00'));
    await push(lab('fx-a', '3255-7', 200, 'mg/dL', '2022-02-09T08:00:00+08:00'));
    await push(lab('fx-a', '29247-4', 7, 'ng/mL', '2022-02-09T08:00:00+08:00'));
    await push(lab('fx-b', '777-3', 35, '10*3/uL', '2022-01-30T08:00:00+08:00'));
    await s.service.outcomes.drain();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('streams one row per subject per visit with canonical units and outcomes', async () => {
    const res = await s.call('/research/flat-export.csv', { role: 'research' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(await res.text());
    expect(rows).toHaveLength(10);
    const a = rows.filter((r) => r.research_subject_id === subjects.a);
    const b = rows.filter((r) => r.research_subject_id === subjects.b);
    expect(a.map((r) => r.visit)).toEqual(['baseline', 'month-1', 'month-3', 'month-6', 'month-12']);
    expect(a[0]).toMatchObject({ arm: 'low-dose', platelets: '20', fibrinogen: '1', subject_status: 'on-study' });
    expect(a[1]).toMatchObject({
      platelets: '150',
      sirolimus_trough: '7',
      platelet_change: '130',
      platelet_percent_change: '650',
      km_response: 'response',
    });
    expect(a.every((r) => r.troughs_in_range === '100')).toBe(true);
    expect(b[0]).toMatchObject({ arm: 'regular-dose', platelets: '35' });
  });

  it('masks the arm and everything from sirolimus levels for outcome assessors', async () => {
    const res = await s.call('/research/flat-export.csv', { role: 'outcome-assessor' });
    expect(res.status).toBe(200);
    const rows = parseCsv(await res.text());
    const a = rows.filter((r) => r.research_subject_id === subjects.a);
    expect(a[0]).toMatchObject({ arm: MASKED, platelets: '20' });
    expect(a[1]).toMatchObject({ sirolimus_trough: MASKED, platelets: '150', km_response: 'response' });
    expect(rows.every((r) => r.arm === MASKED)).toBe(true);
    expect(a.every((r) => r.troughs_in_range === MASKED)).toBe(true);
  });

  it('pages through subjects in batches without losing or repeating any', async () => {
    // The service reads 500 subjects a round trip; the keyset paging is checked here with 1.
    const first = await readSummaryBatch(s.service.db, 'nct04775173', '', 1);
    const second = await readSummaryBatch(s.service.db, 'nct04775173', first[0]?.researchSubjectId ?? '', 1);
    const third = await readSummaryBatch(s.service.db, 'nct04775173', second[0]?.researchSubjectId ?? '', 1);
    expect(new Set(first.map((r) => r.researchSubjectId)).size).toBe(1);
    expect(new Set(second.map((r) => r.researchSubjectId)).size).toBe(1);
    expect(first[0]?.researchSubjectId).not.toBe(second[0]?.researchSubjectId);
    expect(third).toEqual([]);
  });

  it('serves the data dictionary as JSON and CSV', async () => {
    const json = (await (await s.call('/research/flat-export/dictionary', { role: 'research' })).json()) as {
      columns: { name: string }[];
    };
    const header = (await (await s.call('/research/flat-export.csv', { role: 'research' })).text()).split('\r\n')[0];
    expect(json.columns.map((c) => c.name).join(',')).toBe(header);
    const csv = await (await s.call('/research/flat-export/dictionary.csv', { role: 'research' })).text();
    expect(csv.split('\r\n')[0]).toBe('column,level,description,unit,values,source,masked_for_assessors');
    expect(csv).toContain('platelets,visit,');
  });

  it('refuses other roles, a missing token and an unknown study with an OperationOutcome', async () => {
    for (const role of ['ehr-feed', 'clinician'] as const) {
      const r = await s.call('/research/flat-export.csv', { role });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
    const anon = await fetch(`${s.url}/research/flat-export.csv`);
    expect(anon.status).toBe(401);
    const unknown = await s.call('/research/flat-export.csv?study=nope', { role: 'research' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { issue: { code: string }[] }).issue[0]?.code).toBe('not-found');
    const twice = await s.call('/research/flat-export.csv?study=a&study=b', { role: 'research' });
    expect(twice.status).toBe(400);
  });
});
