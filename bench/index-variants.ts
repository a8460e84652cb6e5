/**
 * What the search indexes added since issue 22 was filed cost a transaction's write, measured inside
 * one process: one store per variant of the index set (a PostgreSQL schema or a PGlite store each,
 * migrated, then altered), and 1,000-Observation batches through writeFirstVersions (the statement a
 * transaction's creates share) alternating between the stores, so every variant sees the same
 * machine and a store of the same size. The first two rounds warm up.
 *   node bench/index-variants.ts   (DATABASE_URL=… for PostgreSQL; ROUNDS=20, VARIANTS=all by default)
 * Variants: `as-migrated`; `no-code-date-combo` (without migration 0072's combined index and 0074's
 * code-date indexes); `lookups-without-id` (the lookup indexes as before migration 0070, without the
 * resource id as their last key column); `issue-day` (both: the index set of the day issue 22 was filed);
 * `lookups-by-sequence` (a design option: the lookups keyed by a growing number instead of the id);
 * `few-values-without-id` (an untried idea: `status` and `category` token rows indexed without the id).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFhirDefinitions } from '../src/fhir/definitions.ts';
import { stamp } from '../src/fhir/interactions/write-version.ts';
import { extractIndexRows } from '../src/fhir/search/index-values.ts';
import { writeFirstVersions } from '../src/store/batch-write.ts';
import type { Db } from '../src/store/db.ts';
import { openDb } from '../src/store/open-db.ts';
import type { VersionWrite } from '../src/store/resource-store.ts';
import { platelets } from './fixtures/observation.ts';

const NO_CODE_DATE_COMBO = [
  'DROP INDEX sp_token_code_date',
  'DROP INDEX sp_token_code_dates_many',
  'DROP INDEX sp_token_combo',
];
const LOOKUPS_WITHOUT_ID = [
  'DROP INDEX sp_token_lookup',
  'CREATE INDEX sp_token_lookup ON sp_token (resource_type, param, code, system)',
  'DROP INDEX sp_reference_lookup',
  'CREATE INDEX sp_reference_lookup ON sp_reference (resource_type, param, target)',
  'DROP INDEX sp_date_lookup',
  'CREATE INDEX sp_date_lookup ON sp_date (resource_type, param, lo, hi)',
];
const VARIANTS: Record<string, readonly string[]> = {
  'as-migrated': [],
  'no-code-date-combo': NO_CODE_DATE_COMBO,
  'lookups-without-id': LOOKUPS_WITHOUT_ID,
  'issue-day': [...NO_CODE_DATE_COMBO, ...LOOKUPS_WITHOUT_ID],
  // A design option, not the store's: the lookups keyed by a number that grows (here a sequence each
  // row takes; a real change would store the resource's created_seq), so that new entries land at
  // the right edge of each value's range instead of on random leaves.
  'lookups-by-sequence': [
    'CREATE SEQUENCE sp_row_seq',
    "ALTER TABLE sp_token ADD COLUMN seq bigint NOT NULL DEFAULT nextval('sp_row_seq')",
    "ALTER TABLE sp_reference ADD COLUMN seq bigint NOT NULL DEFAULT nextval('sp_row_seq')",
    "ALTER TABLE sp_date ADD COLUMN seq bigint NOT NULL DEFAULT nextval('sp_row_seq')",
    'DROP INDEX sp_token_lookup',
    'CREATE INDEX sp_token_lookup ON sp_token (resource_type, param, code, system, seq)',
    'DROP INDEX sp_reference_lookup',
    'CREATE INDEX sp_reference_lookup ON sp_reference (resource_type, param, target, seq)',
    'DROP INDEX sp_date_lookup',
    'CREATE INDEX sp_date_lookup ON sp_date (resource_type, param, lo, seq, hi)',
  ],
  // An idea, not the store's: parameters with few values keep their lookup entries without the id
  // (deduplicated); a probe for one resource would go through the owner index instead.
  'few-values-without-id': [
    'DROP INDEX sp_token_lookup',
    "CREATE INDEX sp_token_lookup ON sp_token (resource_type, param, code, system, id) WHERE param NOT IN ('status', 'category')",
    "CREATE INDEX sp_token_lookup_few ON sp_token (resource_type, param, code, system) WHERE param IN ('status', 'category')",
  ],
};
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const BATCH = 1000;
const WARM_UP = 2;
const names = process.env.VARIANTS?.split(',') ?? Object.keys(VARIANTS);
for (const n of names)
  if (!VARIANTS[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);

loadFhirDefinitions();
const stores: { name: string; db: Db; schema: string | undefined; dataDir: string; ms: number[] }[] = [];
for (const name of names) {
  const dataDir = mkdtempSync(join(tmpdir(), 'index-variants-'));
  const schema = process.env.DATABASE_URL ? `bench_iv_${name.replace(/-/g, '_')}_${Date.now()}` : undefined;
  const db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir, schema });
  for (const statement of VARIANTS[name] ?? []) await db.query(statement);
  stores.push({ name, db, schema, dataDir, ms: [] });
}

let next = 0;
function batch(): VersionWrite[] {
  return Array.from({ length: BATCH }, () => {
    const id = randomUUID();
    const o = { ...platelets(next++), id };
    const lastUpdated = new Date().toISOString();
    const content = JSON.stringify(stamp(o, id, 1, lastUpdated));
    return {
      resourceType: 'Observation',
      id,
      versionId: 1,
      lastUpdated,
      method: 'POST',
      content,
      index: extractIndexRows(o, 'http://x/fhir'),
    };
  });
}

for (let round = 0; round < ROUNDS + WARM_UP; round++) {
  // Each round in the other order, so that neither side always follows the other.
  for (const s of round % 2 ? [...stores].reverse() : stores) {
    const writes = batch();
    const t0 = performance.now();
    await s.db.transaction((tx) => writeFirstVersions(tx, writes));
    if (round >= WARM_UP) s.ms.push(performance.now() - t0);
  }
}

const backend = stores[0]?.db.backend;
console.log(`${BATCH} Observations a batch, ${ROUNDS} batches a variant, ${backend}`);
console.log('| variant | median ms | p25–p75 ms | Observations stored at the end |');
console.log('|---|---:|---|---:|');
for (const s of stores) {
  const a = [...s.ms].sort((x, y) => x - y);
  const at = (p: number): string => (a[Math.floor(p * (a.length - 1))] ?? 0).toFixed(1);
  console.log(`| ${s.name} | ${at(0.5)} | ${at(0.25)}–${at(0.75)} | ${(ROUNDS + WARM_UP) * BATCH} |`);
}
for (const s of stores) {
  if (s.schema) await s.db.query(`DROP SCHEMA IF EXISTS ${s.schema} CASCADE`);
  await s.db.close();
  rmSync(s.dataDir, { recursive: true, force: true });
}
