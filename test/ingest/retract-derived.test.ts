// Fixtures WRITTEN FOR THE TESTS (invented trial records; no real patient data).
import type { AdverseEvent, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareVersion } from '../../src/fhir/interactions/write-version.ts';
import type { IntakeSession } from '../../src/ingest/intake.ts';
import { retractTrialRecords } from '../../src/ingest/withdraw.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { readCurrent } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const BASE = 'http://adapter.test/fhir';
const P = 'https://khe-trial.example.org/fhir';
const links = (source: string) => [
  { url: `${P}/StructureDefinition/research-subject`, valueReference: { reference: 'ResearchSubject/rs-9' } },
  { url: `${P}/StructureDefinition/derived-from`, valueReference: { reference: source } },
];
const tag = { tag: [{ system: `${P}/CodeSystem/record-kind`, code: 'trial-record' }] };

/** A gate for mappings that no longer know the source (a form or mapping taken out since). */
const forgetfulGate = {
  storedDecision: async () => undefined,
  trialRecords: () => {
    throw new Error('not called: nothing routes');
  },
} as unknown as IntakeSession;

describe(`retracting the records of a source the mappings no longer know (${testBackend()})`, () => {
  let t: TestDb;
  const write = (r: Resource, id: string) => writeFirstVersions(t.db, [prepareVersion(BASE, r, id, 1, 'POST').write]);
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('finds a QuestionnaireResponse record by derived-from and gives it an entered-in-error version', async () => {
    const source: QuestionnaireResponse = { resourceType: 'QuestionnaireResponse', status: 'completed' };
    await write(source, 'qr-src');
    await write(
      { ...source, meta: tag, extension: links('QuestionnaireResponse/qr-src') } as QuestionnaireResponse,
      'qr-rec',
    );
    const subjects = await retractTrialRecords(
      t.db,
      BASE,
      forgetfulGate,
      'QuestionnaireResponse',
      'qr-src',
      JSON.stringify(source),
    );
    expect(subjects).toEqual(['rs-9']);
    const record = await readCurrent(t.db, 'QuestionnaireResponse', 'qr-rec');
    expect([record?.versionId, (JSON.parse(record?.content as string) as QuestionnaireResponse).status]).toEqual([
      2,
      'entered-in-error',
    ]);
    // Once retracted, nothing more to do.
    expect(
      await retractTrialRecords(t.db, BASE, forgetfulGate, 'QuestionnaireResponse', 'qr-src', JSON.stringify(source)),
    ).toBeUndefined();
  });

  it('deletes an AdverseEvent record (R4 AdverseEvent has no entered-in-error)', async () => {
    const source: AdverseEvent = {
      resourceType: 'AdverseEvent',
      actuality: 'actual',
      subject: { reference: 'Patient/x' },
    };
    await write(source, 'ae-src');
    await write({ ...source, meta: tag, extension: links('AdverseEvent/ae-src') } as AdverseEvent, 'ae-rec');
    expect(
      await retractTrialRecords(t.db, BASE, forgetfulGate, 'AdverseEvent', 'ae-src', JSON.stringify(source)),
    ).toEqual(['rs-9']);
    expect((await readCurrent(t.db, 'AdverseEvent', 'ae-rec'))?.deleted).toBe(true);
  });

  it('leaves a source with no records alone (a plain delete follows)', async () => {
    const source: QuestionnaireResponse = { resourceType: 'QuestionnaireResponse', status: 'completed' };
    await write(source, 'qr-lonely');
    expect(
      await retractTrialRecords(
        t.db,
        BASE,
        forgetfulGate,
        'QuestionnaireResponse',
        'qr-lonely',
        JSON.stringify(source),
      ),
    ).toBeUndefined();
  });
});
