/**
 * What the combined index (migration 0072, src/store/combo-rows.ts) costs a durable Observation
 * write, measured as a difference inside one process and one database, which the run-to-run spread
 * of bench/write-cost.ts (±15 % on a shared machine) cannot resolve: blocks of 200 creates alternate
 * between the Observation as it is and the same Observation with its `code` token rows renamed (same
 * number of index rows, none in the combined index). The first round warms up.
 *   node bench/combo-write-ab.ts   (DATABASE_URL=… for PostgreSQL; ROUNDS=25 by default)
 * The loop includes building the body and index rows (the same on both sides), so the ratio is a
 * slight underestimate of the statement's own difference.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFhirDefinitions } from '../src/fhir/definitions.ts';
import { extractIndexRows } from '../src/fhir/search/index-values.ts';
import { openDb } from '../src/store/open-db.ts';
import { writeVersion } from '../src/store/resource-store.ts';
import { platelets } from './fixtures/observation.ts';

loadFhirDefinitions();
const dataDir = mkdtempSync(join(tmpdir(), 'combo-ab-'));
const schema = process.env.DATABASE_URL ? `bench_ab_${Date.now()}` : undefined;
const db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir, schema });
const BLOCK = 200;
const ROUNDS = Number(process.env.ROUNDS ?? 25);
const total = { with: 0, without: 0 };
let i = 0;
for (let round = 0; round <= ROUNDS; round++) {
  for (const kind of ['with', 'without'] as const) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < BLOCK; k++, i++) {
      const o = platelets(i);
      const idx = extractIndexRows(o, 'http://x/fhir');
      if (kind === 'without') idx.tokens = idx.tokens.map(([p, s, c]) => [p === 'code' ? 'kode' : p, s, c]);
      await writeVersion(
        db,
        {
          resourceType: 'Observation',
          id: randomUUID(),
          versionId: 1,
          lastUpdated: new Date().toISOString(),
          method: 'POST',
          content: JSON.stringify(o),
          index: idx,
        },
        true,
      );
    }
    if (round > 0) total[kind] += Number(process.hrtime.bigint() - start) / 1e3;
  }
}
const n = ROUNDS * BLOCK;
console.log(
  `${db.backend}: with ${(total.with / n).toFixed(1)} µs, without ${(total.without / n).toFixed(1)} µs, ratio ${(total.with / total.without).toFixed(3)}`,
);
if (schema) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await db.close();
rmSync(dataDir, { recursive: true, force: true });
