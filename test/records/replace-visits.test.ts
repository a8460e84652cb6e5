// Fixtures WRITTEN FOR THE TESTS (invented records).
import type { Observation, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { EXT_VISIT, TRIAL_RECORD_TAG, VISIT_SYSTEM } from '../../src/mapping/trial-extensions.ts';
import { misplacedRecords, visitNow, withVisit } from '../../src/records/replace-visits.ts';

const [study] = await loadStudyDefinitions('mappings/studies');
if (!study) throw new Error('no study');

const visitExt = (code: string) => ({ url: EXT_VISIT, valueCoding: { system: VISIT_SYSTEM, code } });
const observation = (id: string, when: string, visit: string, trial = true): Observation => ({
  resourceType: 'Observation',
  id,
  ...(trial ? { meta: { tag: [TRIAL_RECORD_TAG] } } : {}),
  extension: [visitExt(visit)],
  status: 'final',
  code: { text: 'platelets' },
  effectiveDateTime: when,
});
const response = (id: string, authored: string, visit: string): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  id,
  meta: { tag: [TRIAL_RECORD_TAG] },
  extension: [visitExt(visit)],
  status: 'completed',
  authored,
});

describe('placing trial records by the current treatment start', () => {
  it.each([
    // [taken at, treatment start, visit] — windows from mappings/studies/NCT04775173/study.json
    ['2022-01-05T08:00:00+08:00', undefined, 'unscheduled'],
    ['2022-01-05T08:00:00+08:00', '2022-01-10', 'baseline'],
    ['2021-12-12T08:00:00+08:00', '2022-01-10', 'unscheduled'], // day -29: before the baseline window
    ['2022-01-10T23:30:00+08:00', '2022-01-10', 'baseline'], // day 0 on the local calendar date
    ['2022-02-09T08:00:00+08:00', '2022-01-10', 'month-1'],
    ['2022-01-05T08:00:00+08:00', '2021-12-10', 'month-1'],
    ['2022-02-09T08:00:00+08:00', '2021-12-10', 'unscheduled'], // day 61: in no window
  ] as const)('a value taken %s with start %s is in %s', (when, start, visit) => {
    expect(visitNow(observation('o', when, 'x'), study, start)).toBe(visit);
  });

  it('lists only trial records whose stored visit differs, Observations and QuestionnaireResponses alike', () => {
    const records: Resource[] = [
      observation('right', '2022-02-09T08:00:00+08:00', 'month-1'),
      observation('moved', '2022-01-05T08:00:00+08:00', 'unscheduled'),
      observation('source', '2022-01-05T08:00:00+08:00', 'unscheduled', false),
      response('form', '2022-01-06T10:00:00+08:00', 'unscheduled'),
    ];
    expect(misplacedRecords(records, study, '2022-01-10').map((m) => [m.record.id, m.visit])).toEqual([
      ['moved', 'baseline'],
      ['form', 'baseline'],
    ]);
    expect(misplacedRecords(records, study, undefined).map((m) => m.record.id)).toEqual(['right']);
  });

  it('changes nothing but the visit extension', () => {
    const before = {
      ...observation('o', '2022-01-05T08:00:00+08:00', 'unscheduled'),
      extension: [{ url: 'https://example.org/other', valueString: 'kept' }, visitExt('unscheduled')],
    };
    const after = withVisit(before, 'baseline');
    expect(after.extension).toEqual([{ url: 'https://example.org/other', valueString: 'kept' }, visitExt('baseline')]);
    expect({ ...after, extension: undefined }).toEqual({ ...before, extension: undefined });
    expect(before.extension[1]).toEqual(visitExt('unscheduled'));
  });
});
