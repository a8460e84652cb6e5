// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// The FHIR engine with a stand-in write pipeline, no trial code at all: what it is registered with
// decides whether a write is kept, what it derives and marks, and answers what it does not keep.
import type { Basic, Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBundle } from '../../src/fhir/bundle/process-bundle.ts';
import { dispatch } from '../../src/fhir/dispatch.ts';
import type { FhirContext } from '../../src/fhir/fhir-context.ts';
import { createValidator } from '../../src/fhir/validate.ts';
import type { WriteDecision, WriteGate, WritePipeline } from '../../src/fhir/write-pipeline.ts';
import { readCurrent } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const BASE = 'http://localhost/fhir';

interface Decision extends WriteDecision {
  mark: string;
}

/** Keeps an Observation whose code text is "keep", deriving a Basic from it; answers 202 otherwise. */
const gate: WriteGate = {
  decides: (type) => type === 'Observation',
  decidesLast: () => false,
  decide: async (_q, r) =>
    r.resourceType === 'Observation'
      ? ({ retain: (r as Observation).code?.text === 'keep', mark: `m-${(r as Observation).id ?? 'new'}` } as Decision)
      : undefined,
  mayWithdraw: () => false,
  notKept: async () => ({ status: 202, outcome: { resourceType: 'OperationOutcome', issue: [] } }),
  derive: (_r, ref, d) =>
    d?.retain ? [{ resourceType: 'Basic', id: `b-${ref.split('/')[1]}`, code: {} } as Basic] : [],
  marks: (d) => [(d as Decision).mark],
  count: () => undefined,
  labelStored: async (_q, r) => r,
  reveals: () => false,
  retract: async () => undefined,
  keptSource: async () => false,
};

const pipeline: WritePipeline = {
  session: () => gate,
  marksOf: async (_q, type, id) => (type === 'Patient' ? [`p-${id}`] : []),
  derived: { serviceOnlyTypes: new Set(), mixedTypes: new Set(), idPrefixes: [], tagSystem: 'urn:test:kind' },
};

describe(`the FHIR engine with a registered write pipeline (${testBackend()})`, () => {
  let t: TestDb;
  let ctx: FhirContext;
  const marks = async () =>
    (await t.db.query<{ id: string }>('SELECT research_subject_id AS id FROM outcome_marks')).rows
      .map((r) => r.id)
      .sort();
  const post = (body: Resource) =>
    t.db.transaction((tx) =>
      dispatch(ctx, tx, {
        method: 'POST',
        path: [body.resourceType],
        query: new URLSearchParams(),
        body,
        strict: false,
      }),
    );

  beforeAll(async () => {
    t = await openTestDb();
    ctx = {
      db: t.db,
      baseUrl: BASE,
      access: undefined,
      authorize: () => undefined,
      can: () => true,
      validator: createValidator({ get: () => undefined }),
      pipeline,
      gate,
    };
  });
  afterAll(async () => {
    await t.drop();
  });

  const obs = (text: string): Observation => ({ resourceType: 'Observation', status: 'final', code: { text } });

  it('stores a kept write with what the pipeline derives, and its marks, together', async () => {
    const r = await post(obs('keep'));
    expect(r.status).toBe(201);
    const id = (JSON.parse(r.body as string) as Observation).id as string;
    expect((await readCurrent(t.db, 'Basic', `b-${id}`))?.versionId).toBe(1);
    expect(await marks()).toContain('m-new');
  });

  it("answers a write the pipeline does not keep with the pipeline's answer, storing nothing", async () => {
    const before = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM resources WHERE resource_type = 'Observation'",
    );
    const r = await post(obs('drop'));
    expect(r.status).toBe(202);
    const after = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM resources WHERE resource_type = 'Observation'",
    );
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });

  it("marks what any write makes stale through the pipeline's marksOf", async () => {
    const r = await post({ resourceType: 'Patient' });
    const id = (JSON.parse(r.body as string) as { id: string }).id;
    expect(await marks()).toContain(`p-${id}`);
  });

  it('plans a transaction through the gate: kept entries are written with their derived writes', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: obs('keep'), request: { method: 'POST', url: 'Observation' } },
        { resource: obs('drop'), request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const r = await processBundle(ctx, bundle, { strict: false, returnMinimal: true, maxEntries: 10 });
    const statuses = (JSON.parse(r.body as string) as Bundle).entry?.map((e) => e.response?.status);
    expect(statuses).toEqual(['201 Created', '202 Accepted']);
  });
});
