/**
 * EXPLAIN (ANALYZE, BUFFERS) of the drain's read statements on a schema the recomputation bench kept
 * (KEEP_SCHEMA=1 of outcomes-recompute.ts), for a batch of 200 subjects taken at random: how the
 * planner runs them once the tables are big.
 *   DATABASE_URL=postgres://… node bench/support/explain-drain.ts <schema> [subjects, default 200]
 */
import type { QueryResult } from 'pg';
import { definitionsFingerprint, OUTCOME_ID_PREFIXES } from '../../src/outcomes/fingerprint.ts';
import type { Queryable } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { readFingerprints } from '../../src/store/outcome-fingerprint-store.ts';
import { readSubjectInputs } from '../../src/store/outcome-store.ts';

const [schema, countArg] = process.argv.slice(2);
if (!schema || !process.env.DATABASE_URL) throw new Error('usage: DATABASE_URL=… explain-drain.ts <schema> [subjects]');
const db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema, poolSize: 1 });
const ids = (
  await db.query<{ id: string }>(
    'SELECT research_subject_id AS id FROM outcome_fingerprints ORDER BY random() LIMIT $1',
    [Number(countArg ?? 200)],
  )
).rows.map((r) => r.id);

const explaining = (label: string): Queryable => ({
  async query<R extends object>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params);
    console.log(`-- ${label}\n${r.rows.map((x) => x['QUERY PLAN']).join('\n')}\n`);
    return { rows: [], rowCount: 0, command: '', oid: 0, fields: [] } as unknown as QueryResult<R>;
  },
  exec: (text) => db.exec(text),
});

const RECORD_TYPES = ['Observation', 'QuestionnaireResponse', 'AdverseEvent', 'Flag'];
await readFingerprints(explaining('fingerprints'), ids, {
  recordTypes: RECORD_TYPES,
  outputIdPrefixes: OUTCOME_ID_PREFIXES,
  salt: definitionsFingerprint([], [], ''),
});
await readSubjectInputs(explaining('inputs'), ids, RECORD_TYPES, ['MedicationRequest', 'MedicationStatement']);
await db.close();
