/**
 * Response time of the CDS Hooks trial-status card for an enrolled child with a year of results
 * (the synthetic cohort's first child, written for the tests), each call with a freshly signed EHR
 * JWT, as an EHR would send on opening the chart. Sequential calls: latency, not throughput.
 *   node bench/cds-card.ts        DATABASE_URL=postgres://… node bench/cds-card.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { feedBundle, syntheticCohort } from '../test/support/synthetic-cohort.ts';
import { startBenchService } from './support/bench-service.ts';

const N = Number(process.env.N ?? 300);
const ISS = 'https://ehr.bench.example';
const pair = await generateKeyPair('ES384', { extractable: true });
const jwk = await exportJWK(pair.publicKey);
const svc = await startBenchService({
  CDS_CLIENTS: JSON.stringify([{ iss: ISS, jwks: { keys: [{ ...jwk, kid: 'k1', alg: 'ES384' }] } }]),
});
const feed = await svc.tokenFor('ehr-feed');
const c = syntheticCohort(1)[0] as ReturnType<typeof syntheticCohort>[number];
const post = (path: string, token: string, body: unknown) =>
  fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
await fetch(`${svc.url}/fhir/Patient/${c.patientId}`, {
  method: 'PUT',
  headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/fhir+json' },
  body: JSON.stringify({
    resourceType: 'Patient',
    id: c.patientId,
    birthDate: c.birthDate,
    identifier: [{ system: 'urn:synthetic:mrn', value: c.mrn }],
  }),
});
await post('/fhir/ResearchSubject', svc.token, {
  resourceType: 'ResearchSubject',
  status: 'on-study',
  study: { reference: 'ResearchStudy/nct04775173' },
  individual: { reference: `Patient/${c.patientId}` },
  assignedArm: c.arm,
  period: { start: c.start },
});
await post('/fhir', feed, feedBundle(c));
await post('/admin/outcomes/recompute?scope=all&wait=true', svc.token, {});
const aud = `${svc.url}/cds-services/trial-status`;
const times: number[] = [];
for (let i = 0; i < N; i++) {
  const jwt = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
    .setIssuer(ISS)
    .setAudience(aud)
    .setExpirationTime('5m')
    .sign(pair.privateKey);
  const t = performance.now();
  const r = await fetch(aud, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hook: 'patient-view', hookInstance: randomUUID(), context: { patientId: c.patientId } }),
  });
  const body = (await r.json()) as { cards: unknown[] };
  times.push(performance.now() - t);
  if (r.status !== 200 || body.cards.length !== 1) throw new Error(`card: ${r.status}`);
}
times.sort((a, b) => a - b);
const pct = (p: number) =>
  Math.round((times[Math.min(times.length - 1, Math.floor(p * times.length))] as number) * 10) / 10;
const result = {
  backend: svc.backend,
  calls: N,
  resultsOfTheChild: c.values.length,
  p50ms: pct(0.5),
  p99ms: pct(0.99),
  maxMs: pct(1),
  peakRssMb: svc.peakRssMb(),
};
console.log(JSON.stringify(result));
writeFileSync(`bench/results/cds-card-${svc.backend}.json`, `${JSON.stringify(result, null, 2)}\n`);
await svc.stop();
