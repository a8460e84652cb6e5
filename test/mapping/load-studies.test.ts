import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { toResearchStudy } from '../../src/mapping/research-study.ts';
import { AppError } from '../../src/shared/app-error.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'mappings', 'studies');

function withStudies(
  edit?: (study: Record<string, unknown>) => Record<string, unknown>,
  extra?: Record<string, unknown>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'khe-studies-'));
  cpSync(SHIPPED, dir, { recursive: true });
  const file = join(dir, 'NCT04775173', 'study.json');
  const study = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (edit) writeFileSync(file, JSON.stringify(edit(structuredClone(study))));
  if (extra) {
    mkdirSync(join(dir, 'SECOND'));
    writeFileSync(join(dir, 'SECOND', 'study.json'), JSON.stringify({ ...study, ...extra }));
  }
  return dir;
}

describe('study definitions in mappings/', () => {
  it('loads the shipped NCT04775173 definition with both arms, five visits and the registry measures', async () => {
    const [study] = await loadStudyDefinitions(SHIPPED);
    expect(study?.arms.map((a) => [a.name, a.troughTarget?.low, a.troughTarget?.high])).toEqual([
      ['low-dose', 5, 10],
      ['regular-dose', 10, 15],
    ]);
    expect(study?.visits.map((v) => v.id)).toEqual(['baseline', 'month-1', 'month-3', 'month-6', 'month-12']);
    const due = Object.fromEntries(study?.measures.map((m) => [m.id, m.dueAt]) ?? []);
    // Registry record: volume at baseline, 3, 6, 12 months; platelets and fibrinogen also at month 1.
    expect(due['lesion-volume']).toEqual(['baseline', 'month-3', 'month-6', 'month-12']);
    expect(due.platelets).toEqual(['baseline', 'month-1', 'month-3', 'month-6', 'month-12']);
    expect(due.fibrinogen).toEqual(['baseline', 'month-1', 'month-3', 'month-6', 'month-12']);
    const rs = toResearchStudy(study as NonNullable<typeof study>);
    expect(rs.identifier?.[0]).toMatchObject({ system: 'https://clinicaltrials.gov', value: 'NCT04775173' });
    expect(rs.phase?.coding?.[0]?.code).toBe('phase-2');
  });

  it('adds a second study from files alone', async () => {
    const dir = withStudies(undefined, {
      id: 'second-trial',
      identifier: { system: 'https://clinicaltrials.gov', value: 'NCT00000002' },
    });
    expect((await loadStudyDefinitions(dir)).map((s) => s.id)).toEqual(['nct04775173', 'second-trial']);
  });

  it.each([
    [
      'a duplicate arm',
      (s: Record<string, unknown>) => ({ ...s, arms: [...(s.arms as unknown[]), (s.arms as unknown[])[0]] }),
    ],
    [
      'a target with low above high',
      (s: Record<string, unknown>) => ({
        ...s,
        arms: (s.arms as { interventions: object[] }[]).map((a) => ({
          ...a,
          interventions: [
            {
              drug: 'sirolimus',
              rxnorm: '35302',
              troughTarget: { measure: 'sirolimus-trough', low: 20, high: 10, unit: 'ng/mL' },
            },
          ],
        })),
      }),
    ],
    [
      'a measure due at an unknown visit',
      (s: Record<string, unknown>) => ({
        ...s,
        measures: (s.measures as { dueAt: string[] }[]).map((m, i) => (i === 0 ? { ...m, dueAt: ['month-99'] } : m)),
      }),
    ],
    [
      'a unit that is not UCUM',
      (s: Record<string, unknown>) => ({
        ...s,
        measures: (s.measures as { unit: string }[]).map((m, i) => (i === 0 ? { ...m, unit: 'x10^9/L' } : m)),
      }),
    ],
    ['an unknown field', (s: Record<string, unknown>) => ({ ...s, colour: 'blue' })],
  ])('refuses %s with STUDY_DEFINITION_INVALID naming the file', async (_name, edit) => {
    const dir = withStudies(edit);
    await expect(loadStudyDefinitions(dir)).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof AppError && e.code === 'STUDY_DEFINITION_INVALID' && e.message.includes('study.json'),
    );
  });

  type Outcome = { id: string; [k: string]: unknown };
  const editOutcome = (id: string, change: (o: Outcome) => Outcome) => (s: Record<string, unknown>) => ({
    ...s,
    outcomes: (s.outcomes as Outcome[]).map((o) => (o.id === id ? change(o) : o)),
  });
  it.each([
    [
      'an unknown measure',
      editOutcome('platelet-change', (o) => ({ ...o, measure: 'platelet' })),
      'outcome platelet-change: unknown measure "platelet"',
    ],
    [
      'a threshold in an incompatible unit',
      editOutcome('km-response', (o) => ({
        ...o,
        conditions: [{ measure: 'fibrinogen', comparator: '>', value: 1.5, unit: 'mmol/L' }],
      })),
      'outcome km-response: threshold 1.5 mmol/L cannot be converted to g/L, the unit of measure fibrinogen',
    ],
    [
      'rule parameters missing',
      editOutcome('time-in-range', ({ maxGapDays: _m, ...o }) => o),
      'outcome time-in-range: Invalid input: expected number, received undefined (at maxGapDays)',
    ],
    [
      'a rule not in the catalogue',
      editOutcome('eligibility', (o) => ({ ...o, rule: 'magic' })),
      'outcome eligibility: rule must be one of the catalogue',
    ],
  ])('stops on %s with one line naming the file, the outcome and the problem', async (_name, edit, message) => {
    const dir = withStudies(edit);
    const err = await loadStudyDefinitions(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    const text = (err as AppError).message;
    expect(text).not.toContain('\n');
    expect(text).toContain(join(dir, 'NCT04775173', 'study.json'));
    expect(text).toContain(message);
  });

  it('converts a threshold declared in another unit with UCUM before comparing', async () => {
    const dir = withStudies(
      editOutcome('km-response', (o) => ({
        ...o,
        conditions: [{ measure: 'fibrinogen', comparator: '>', value: 150, unit: 'mg/dL' }],
      })),
    );
    const [study] = await loadStudyDefinitions(dir);
    const km = study?.outcomes.find((o) => o.id === 'km-response');
    expect(km?.rule === 'threshold-response' && km.conditions[0]?.canonicalValue).toBe(1.5);
  });

  it('refuses the same study id twice', async () => {
    const dir = withStudies(undefined, {});
    await expect(loadStudyDefinitions(dir)).rejects.toThrow(/defined twice/);
  });
});
