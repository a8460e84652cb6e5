// Fixtures WRITTEN FOR THE TESTS. The recomputation's reads of a batch (input fingerprints and
// inputs; for a few subjects both in one statement) look up each subject's Patient and that
// Patient's medications by index, whatever the store's size and without statistics (issue 20:
// joined, the planner read every ResearchSubject's individual row and every medication's subject
// row of the store for each batch; then, probing by id, it walked every ResearchSubject's
// individual entry of the lookup index for each subject).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/store/db.ts';
import { readFingerprints } from '../../src/store/outcome-fingerprint-store.ts';
import { readChangedSubjectInputs } from '../../src/store/outcome-inputs-if-changed.ts';
import { readSubjectInputs } from '../../src/store/outcome-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const STORED = 3000;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** Rows read from sp_reference by each scan of it (rows times loops), largest first. */
function referenceRowsRead(node: PlanNode, out: number[] = []): number[] {
  if (node['Relation Name'] === 'sp_reference') out.push((node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1));
  for (const child of node.Plans ?? []) referenceRowsRead(child, out);
  return out.sort((a, b) => b - a);
}

/** Buffers each scan of sp_reference touched per loop (one subject's probe), largest first. */
function referenceBlocksPerProbe(node: PlanNode, out: number[] = []): number[] {
  if (node['Relation Name'] === 'sp_reference')
    out.push(((node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0)) / (node['Actual Loops'] ?? 1));
  for (const child of node.Plans ?? []) referenceBlocksPerProbe(child, out);
  return out.sort((a, b) => b - a);
}

/** Runs each statement under EXPLAIN ANALYZE and keeps its plan instead of its rows. */
function explaining(q: Queryable, plans: PlanNode[]): Queryable {
  return {
    async query(text, params) {
      const r = await q.query<Record<string, unknown>>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, params);
      const raw = Object.values(r.rows[0] ?? {})[0];
      const json = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
      plans.push((json[0] as { Plan: PlanNode }).Plan);
      return { rows: [], rowCount: 0, command: '', oid: 0, fields: [] };
    },
    exec: (text) => q.exec(text),
  };
}

describe(`the recomputation's input reads at scale (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
    // STORED subjects, each with its Patient and one medication; never ANALYZEd, as after a bulk load.
    await t.db.query(
      `INSERT INTO sp_reference (resource_type, id, param, target)
       SELECT 'ResearchSubject', 'rs-' || i, 'individual', 'Patient/p-' || i FROM generate_series(1, $1::int) i
       UNION ALL
       SELECT 'MedicationStatement', 'ms-' || i, 'subject', 'Patient/p-' || i FROM generate_series(1, $1::int) i`,
      [STORED],
    );
  });
  afterAll(async () => {
    await t.drop();
  });

  it('reads only the batch’s subjects’ reference rows', async () => {
    const batch = ['rs-7', 'rs-1500', 'rs-2999'];
    const plans: PlanNode[] = [];
    await readFingerprints(explaining(t.db, plans), batch, {
      recordTypes: ['Observation'],
      outputIdPrefixes: ['oc-'],
      salt: 's',
    });
    await readSubjectInputs(
      explaining(t.db, plans),
      batch,
      ['Observation'],
      ['MedicationRequest', 'MedicationStatement'],
    );
    await readChangedSubjectInputs(
      explaining(t.db, plans),
      batch,
      { recordTypes: ['Observation'], outputIdPrefixes: ['oc-'], salt: 's' },
      ['MedicationRequest', 'MedicationStatement'],
    );
    expect(plans).toHaveLength(3);
    for (const plan of plans) {
      const reads = referenceRowsRead(plan);
      expect(reads.length).toBeGreaterThan(0);
      // Three subjects: their individual rows and their Patients' medication rows, a few each.
      expect(reads[0]).toBeLessThanOrEqual(batch.length);
      // Each probe descends an index to the subject's rows (a root, a leaf, a heap page or so), not
      // a walk of every subject's entries (about 25 pages of the lookup index here).
      expect(referenceBlocksPerProbe(plan)[0]).toBeLessThanOrEqual(8);
    }
  });
});
