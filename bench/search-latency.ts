/**
 * Latency (p50/p99, one client, sequential) of the queries research clients make, over 100,000
 * seeded Observations spread over 200 enrolled patients: a patient's results for one measure, one
 * measure over a month, the enrolled subjects with their Patients, the next page of a large search,
 * Patient/$everything, the derived study Group, and a count. The service runs in this process
 * (seeding needs the store).
 *   node bench/search-latency.ts
 *   DATABASE_URL=postgres://… node bench/search-latency.ts
 * Prints a table and writes bench/results/search-latency-<backend>.json.
 */
import { writeFileSync } from 'node:fs';
import type { Bundle, Group } from '@medplum/fhirtypes';
import { seedObservations } from '../test/support/bulk-seed.ts';
import { startTestService } from '../test/support/test-service.ts';

const backend = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
const N = Number(process.env.SEARCH_BENCH_RESOURCES ?? 100_000);
const PATIENTS = 200;
const REPS = Number(process.env.SEARCH_BENCH_REPS ?? 200);
const STUDY = 'ResearchStudy/nct04775173';

const s = await startTestService({ LOG_LEVEL: 'silent', BODY_LIMIT: '20mb', RATE_LIMIT_PER_MINUTE: '100000000' });
try {
  // 200 enrolled patients through the API (so Groups and enrollment see them), then the results by SQL.
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: PATIENTS }, (_, k) => [
      {
        resource: { resourceType: 'Patient' as const, id: `sl-p${k}` },
        request: { method: 'PUT' as const, url: `Patient/sl-p${k}` },
      },
      {
        resource: {
          resourceType: 'ResearchSubject' as const,
          status: 'on-study' as const,
          study: { reference: STUDY },
          individual: { reference: `Patient/sl-p${k}` },
          assignedArm: k % 2 ? 'low-dose' : 'regular-dose',
          period: { start: '2022-01-10' },
        },
        request: { method: 'POST' as const, url: 'ResearchSubject' },
      },
    ]).flat(),
  };
  const seeded = await s.call('/fhir', { method: 'POST', body: JSON.stringify(bundle) });
  if (seeded.status !== 200) throw new Error(`seed: ${seeded.status} ${await seeded.text()}`);
  await seedObservations(s.testDb.db, { prefix: 'sl', count: N, patients: PATIENTS });
  await s.testDb.db.exec('ANALYZE');
  // PGlite runs in this thread: after a long seed, let the server's keep-alive timers fire before
  // reusing pooled connections (else the first request races a closing socket).
  await new Promise((r) => setTimeout(r, 500));

  const nextOf = async (path: string): Promise<string> => {
    const b = (await (await s.call(path, { role: 'research' })).json()) as Bundle;
    const next = b.link?.find((l) => l.relation === 'next')?.url;
    if (!next) throw new Error(`no next page for ${path}`);
    return next.slice(s.url.length);
  };
  const queries: [string, string][] = [
    [
      'one patient, one measure, newest first',
      '/fhir/Observation?patient=sl-p7&code=http://loinc.org|777-3&_sort=-date',
    ],
    [
      'one measure over a month (100 per page)',
      '/fhir/Observation?code=http://loinc.org|777-3&date=ge2022-03-01&date=lt2022-04-01&_count=100',
    ],
    [
      'enrolled subjects with their Patients',
      `/fhir/ResearchSubject?study=${STUDY}&status=on-study&_include=ResearchSubject:individual&_count=200`,
    ],
    ['second page of a patient’s results', await nextOf('/fhir/Observation?subject=Patient/sl-p7&_count=50')],
    ['Patient/$everything (first 100)', '/fhir/Patient/sl-p7/$everything?_count=100'],
    ['study Group (200 members)', '/fhir/Group/study-nct04775173'],
    ['count of a patient’s results', '/fhir/Observation?patient=sl-p7&_summary=count'],
    ['Observation history, newest 100', '/fhir/Observation/_history?_count=100'],
    ['Observation history, a later page', await nextOf(await nextOf('/fhir/Observation/_history?_count=100'))],
    ['system history, newest 100', '/fhir/_history?_count=100'],
  ];
  const cells = [];
  for (const [label, path] of queries) {
    for (let i = 0; i < 20; i++) await (await s.call(path, { role: 'research' })).arrayBuffer();
    const times: number[] = [];
    let entries = 0;
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      const res = await s.call(path, { role: 'research' });
      const body = await res.text();
      times.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`${label}: ${res.status} ${body}`);
      if (i === 0) {
        const r = JSON.parse(body) as Bundle | Group;
        entries = r.resourceType === 'Group' ? (r.member ?? []).length : (r.entry ?? []).length;
      }
    }
    times.sort((a, b) => a - b);
    const pct = (p: number) =>
      Math.round((times[Math.min(times.length - 1, Math.floor(p * times.length))] as number) * 10) / 10;
    cells.push({ label, path, entries, p50ms: pct(0.5), p99ms: pct(0.99) });
  }
  console.log(`\nResearch query latency on ${backend}: ${N} Observations, ${PATIENTS} subjects, ${REPS} runs each`);
  console.log('| query | entries (members) | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|');
  for (const c of cells) console.log(`| ${c.label} | ${c.entries} | ${c.p50ms} | ${c.p99ms} |`);
  writeFileSync(
    new URL(`./results/search-latency-${backend}.json`, import.meta.url),
    `${JSON.stringify({ backend, node: process.version, observations: N, subjects: PATIENTS, runs: REPS, cells }, null, 2)}\n`,
  );
} finally {
  await s.stop();
}
