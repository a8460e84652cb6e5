/**
 * The audit trail at hospital scale (issue 22): seeds N AuditEvents with generate_series (spread
 * over the last AUDIT_BENCH_SPAN_DAYS days (default 365), over AUDIT_BENCH_PATIENTS patients, compact
 * events of about 600 bytes; a shorter span with fewer events gives the partitions a month's search reads
 * the density of a larger year: 8,500,000 over 62 days is 50 million a year, in about 14 GB),
 * then measures over the HTTP API, one client, sequentially:
 *   - "who accessed this patient's data in the last month": AuditEvent?patient=…&date=ge…
 *   - a research search (one measure over a month, 100 a page) before and after the audit load,
 *     over AUDIT_BENCH_OBSERVATIONS seeded Observations.
 * It seeds whichever layout the checkout has: the audit tables of migration 0063 when they exist,
 * else (an earlier commit, as bench/back-to-back.sh runs it) AuditEvents in resources and sp_*.
 *   node bench/audit-search.ts
 *   DATABASE_URL=postgres://… AUDIT_BENCH_EVENTS=1000000 node bench/audit-search.ts
 * Defaults: 1,000,000 events on PostgreSQL, 100,000 on PGlite. Prints a table and JSON.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { seedObservations } from '../test/support/bulk-seed.ts';
import { startTestService } from '../test/support/test-service.ts';

const backend = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
const N = Number(process.env.AUDIT_BENCH_EVENTS ?? (backend === 'postgresql' ? 1_000_000 : 100_000));
const PATIENTS = Number(process.env.AUDIT_BENCH_PATIENTS ?? 10_000);
const OBSERVATIONS = Number(process.env.AUDIT_BENCH_OBSERVATIONS ?? 100_000);
const REPS = Number(process.env.AUDIT_BENCH_REPS ?? 200);
const SPAN_DAYS = Number(process.env.AUDIT_BENCH_SPAN_DAYS ?? 365);
if (!(SPAN_DAYS > 0 && SPAN_DAYS <= 390))
  throw new Error('AUDIT_BENCH_SPAN_DAYS: 1 to 390 (the seeded partitions are the last 13 months)');
const BATCH = 250_000;
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';

/** A read of a Patient's data by an API client, as the audit trail records it (compact). */
const TEMPLATE = JSON.stringify({
  resourceType: 'AuditEvent',
  id: 'ID',
  meta: { versionId: '1', lastUpdated: 'TS' },
  type: { system: DCM, code: '110110', display: 'Patient Record' },
  subtype: [{ system: RESTFUL, code: 'read' }],
  action: 'R',
  recorded: 'TS',
  outcome: '0',
  agent: [
    {
      type: { coding: [{ system: DCM, code: '110153' }] },
      who: { identifier: { system: 'urn:khe:client-id', value: 'CLIENT' }, display: 'CLIENT' },
      requestor: true,
      network: { address: '10.0.0.7', type: '2' },
    },
  ],
  source: { observer: { display: 'khe-adapter' } },
  entity: [{ what: { reference: 'Patient/PATIENT' }, type: { code: '1' } }],
});

const s = await startTestService({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '100000000' });
try {
  const db = s.testDb.db;
  const layout = (await db.query<{ t: string | null }>(`SELECT to_regclass('audit_events')::text AS t`)).rows[0]?.t
    ? 'audit tables (0063)'
    : 'resources + sp_* (before 0063)';
  const timed = async (label: string, path: string, role: 'admin' | 'research') => {
    for (let i = 0; i < 20; i++) await (await s.call(path, { role })).arrayBuffer();
    const times: number[] = [];
    let entries = 0;
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      const res = await s.call(path, { role });
      const body = await res.text();
      times.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`${label}: ${res.status} ${body}`);
      if (i === 0) entries = ((JSON.parse(body) as Bundle).entry ?? []).length;
    }
    times.sort((a, b) => a - b);
    const pct = (p: number) =>
      Math.round((times[Math.min(times.length - 1, Math.floor(p * times.length))] as number) * 10) / 10;
    return { label, path, entries, p50ms: pct(0.5), p99ms: pct(0.99) };
  };
  const research = '/fhir/Observation?code=http://loinc.org|777-3&date=ge2022-03-01&date=lt2022-04-01&_count=100';

  await seedObservations(db, { prefix: 'ab-o', count: OBSERVATIONS, patients: 200 });
  await db.exec('ANALYZE');
  await new Promise((r) => setTimeout(r, 500));
  const cells = [await timed('research: one measure over a month, before the audit load', research, 'research')];

  const seedStart = performance.now();
  if (layout.startsWith('audit')) {
    // The months the seed covers get their partitions first, as the retention job gives them.
    const now = new Date();
    for (let k = -13; k <= 0; k++) {
      const lo = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k, 1));
      const hi = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k + 1, 1));
      const name = `y${lo.getUTCFullYear()}m${String(lo.getUTCMonth() + 1).padStart(2, '0')}`;
      for (const table of ['audit_events', 'audit_event_keys']) {
        await db.exec(`CREATE TABLE IF NOT EXISTS ${table}_${name} PARTITION OF ${table}
                       FOR VALUES FROM ('${lo.toISOString()}') TO ('${hi.toISOString()}')`);
      }
    }
  }
  // One instant for every statement of the seed: an event's keys carry exactly its `recorded`.
  const SEED_AT = new Date().toISOString();
  const rows = `SELECT g, 'ab-' || g AS id, 'ab-p' || (g % $3::int) AS patient, 'client-' || (g % 20) AS client,
                       '${SEED_AT}'::timestamptz - ((g::bigint * 7919) % ${SPAN_DAYS * 86_400}) * interval '1 second' AS ts
                  FROM generate_series($1::int, $2::int) g`;
  const content = `replace(replace(replace(replace($4::text, '"ID"', to_json(s.id)::text), 'TS',
                     to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')), 'PATIENT', s.patient), 'CLIENT', s.client)`;
  if (layout.startsWith('audit')) {
    // Loaded as a bulk load is: each month's partition filled while detached, indexed by one sort,
    // then attached (inserting 50 million keys one by one into an index far larger than shared_buffers
    // took an hour for 8.5 million).
    const now = new Date();
    const spanStart = new Date(Date.parse(SEED_AT) - SPAN_DAYS * 86_400_000).toISOString();
    for (let k = -13; k <= 0; k++) {
      const lo = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k, 1)).toISOString();
      const hi = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k + 1, 1)).toISOString();
      if (hi <= spanStart) continue;
      const name = `y${lo.slice(0, 4)}m${lo.slice(5, 7)}`;
      for (const table of ['audit_events', 'audit_event_keys']) {
        await db.exec(`ALTER TABLE ${table} DETACH PARTITION ${table}_${name}`);
        await db.exec(`DROP TABLE ${table}_${name}`);
        await db.exec(`CREATE TABLE ${table}_${name} (LIKE ${table})`);
      }
      for (let start = 1; start <= N; start += BATCH) {
        const params = [start, Math.min(N, start + BATCH - 1), PATIENTS];
        const month = `(SELECT * FROM (${rows}) s0 WHERE s0.ts >= '${lo}' AND s0.ts < '${hi}') s`;
        await db.query(
          `INSERT INTO audit_events_${name} (id, recorded, content) SELECT s.id, s.ts, ${content} FROM ${month}`,
          [...params, TEMPLATE],
        );
        await db.query(
          `INSERT INTO audit_event_keys_${name} (recorded, id, param, system, value)
           SELECT s.ts, s.id, k.param, k.system, coalesce(k.value, 'Patient/' || s.patient) FROM ${month}
           CROSS JOIN (VALUES ('entity', NULL, NULL), ('patient', NULL, NULL), ('type', '${DCM}', '110110'),
                              ('subtype', '${RESTFUL}', 'read'), ('action', NULL, 'R'), ('outcome', NULL, '0')) k(param, system, value)`,
          params,
        );
      }
      // The parent's indexes (migration 0063): attaching adopts these instead of building others.
      await db.exec(`CREATE INDEX ON audit_events_${name} (id)`);
      await db.exec(`CREATE INDEX ON audit_events_${name} (recorded, id)`);
      await db.exec(`CREATE INDEX ON audit_event_keys_${name} (param, value, recorded, id)`);
      for (const table of ['audit_events', 'audit_event_keys']) {
        await db.exec(`ALTER TABLE ${table} ATTACH PARTITION ${table}_${name} FOR VALUES FROM ('${lo}') TO ('${hi}')`);
      }
    }
  }
  for (let start = 1; start <= N && !layout.startsWith('audit'); start += BATCH) {
    const params = [start, Math.min(N, start + BATCH - 1), PATIENTS];
    await db.query(
      `INSERT INTO resources (resource_type, id, version_id, last_updated, content, method)
       SELECT 'AuditEvent', s.id, 1, s.ts, ${content}, 'POST' FROM (${rows}) s`,
      [...params, TEMPLATE],
    );
    await db.query(
      `INSERT INTO sp_reference (resource_type, id, param, target)
       SELECT 'AuditEvent', s.id, p.param, 'Patient/' || s.patient FROM (${rows}) s
       CROSS JOIN (VALUES ('entity'), ('patient')) p(param)`,
      params,
    );
    await db.query(
      `INSERT INTO sp_token (resource_type, id, param, system, code)
       SELECT 'AuditEvent', s.id, k.param, k.system, k.code FROM (${rows}) s
       CROSS JOIN (VALUES ('type', '${DCM}', '110110'), ('subtype', '${RESTFUL}', 'read'), ('action', NULL, 'R'),
                          ('outcome', NULL, '0')) k(param, system, code)`,
      params,
    );
    await db.query(
      `INSERT INTO sp_date (resource_type, id, param, lo, hi)
       SELECT 'AuditEvent', s.id, 'date', s.ts, s.ts + interval '1 millisecond' FROM (${rows}) s`,
      params,
    );
  }
  await db.exec('ANALYZE');
  const seedSeconds = Math.round((performance.now() - seedStart) / 100) / 10;
  await new Promise((r) => setTimeout(r, 500));

  const monthAgo = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 19);
  cells.push(
    await timed('research: one measure over a month, after the audit load', research, 'research'),
    await timed(
      "who accessed this patient's data in the last month",
      `/fhir/AuditEvent?patient=Patient/ab-p123&date=ge${monthAgo}Z`,
      'admin',
    ),
  );
  // Paging through a patient's year of events, 10 a page: the second page.
  const first = (await (
    await s.call('/fhir/AuditEvent?patient=Patient/ab-p77&date=ge2000-01-01&_count=10')
  ).json()) as Bundle;
  const second = first.link?.find((l) => l.relation === 'next')?.url;
  if (second)
    cells.push(await timed("a patient's year of events, 10 a page: page 2", second.slice(s.url.length), 'admin'));
  console.log(
    `\nAudit search on ${backend}, ${layout}: ${N} AuditEvents over ${PATIENTS} patients and ${SPAN_DAYS} days (${((N * 365) / SPAN_DAYS / 1e6).toFixed(1)} million a year at this density; seeded in ${seedSeconds} s), ${OBSERVATIONS} Observations, ${REPS} runs each`,
  );
  console.log('| query | entries | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|');
  for (const c of cells) console.log(`| ${c.label} | ${c.entries} | ${c.p50ms} | ${c.p99ms} |`);
  console.log(
    JSON.stringify(
      {
        backend,
        layout,
        node: process.version,
        events: N,
        patients: PATIENTS,
        spanDays: SPAN_DAYS,
        seedSeconds,
        cells,
      },
      null,
      2,
    ),
  );
} finally {
  await s.stop();
}
