// Fixtures WRITTEN FOR THE TESTS (an invented child, results and EHR key). Both studies loaded:
// NCT04775173 and the invented example study (test/fixtures/studies/EXAMPLE-EVEROLIMUS); one child
// on both. The card, the trial page's data and the overview show each study with what that study
// declares, over HTTP against the real service.
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/cds/dates.ts';
import type { TrialStatus } from '../../src/cds/trial-status.ts';
import { utcTodayClearOfMidnight } from '../support/calendar-day.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const ISS = 'https://ehr.two.example';
// Not within minutes of midnight UTC: the expected "N days ago" must be the service's too.
const today = await utcTodayClearOfMidnight();

interface Card {
  summary: string;
  indicator: string;
  detail: string;
  source: { label: string };
  links: { type: string; appContext?: string }[];
}

describe('a child on two studies', () => {
  let s: TestService;
  let key: CryptoKey;
  let aud: string;
  let studiesDir: string;
  const subjects: Record<string, string> = {};

  const cards = async (patientId: string): Promise<Card[]> => {
    const token = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES384', kid: 'ehr-1' })
      .setIssuer(ISS)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
    const r = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        hook: 'patient-view',
        hookInstance: randomUUID(),
        context: { patientId, userId: 'Practitioner/1' },
      }),
    });
    expect(r.status).toBe(200);
    return ((await r.json()) as { cards: Card[] }).cards;
  };
  const push = async (code: string, value: number, unit: string, date: string) => {
    const r = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code }] },
        subject: { reference: 'Patient/two-1' },
        effectiveDateTime: `${date}T08:00:00+08:00`,
        valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
      }),
    });
    expect(r.status, await r.clone().text()).toBe(201);
  };

  beforeAll(async () => {
    studiesDir = mkdtempSync(join(tmpdir(), 'two-studies-'));
    cpSync(join(ROOT, 'mappings', 'studies', 'NCT04775173'), join(studiesDir, 'NCT04775173'), { recursive: true });
    cpSync(join(ROOT, 'test', 'fixtures', 'studies', 'EXAMPLE-EVEROLIMUS'), join(studiesDir, 'EXAMPLE-EVEROLIMUS'), {
      recursive: true,
    });
    const pair = await generateKeyPair('ES384', { extractable: true });
    key = pair.privateKey as CryptoKey;
    const jwk = (await exportJWK(pair.publicKey)) as JWK;
    s = await startTestService({
      STUDIES_DIR: studiesDir,
      CDS_CLIENTS: JSON.stringify([{ iss: ISS, jwks: { keys: [{ ...jwk, kid: 'ehr-1', alg: 'ES384' }] } }]),
    });
    aud = `${s.service.config.publicBaseUrl}/cds-services/trial-status`;
    const p = await s.call('/fhir/Patient/two-1', {
      method: 'PUT',
      body: JSON.stringify({ resourceType: 'Patient', id: 'two-1', birthDate: '2019-01-01' }),
    });
    expect(p.status).toBe(201);
    for (const [study, arm, start] of [
      ['nct04775173', 'low-dose', addDays(today, -10)],
      ['example-everolimus', 'everolimus', addDays(today, -5)],
    ] as const) {
      const rs = await s.call('/fhir/ResearchSubject', {
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'ResearchSubject',
          status: 'on-study',
          study: { reference: `ResearchStudy/${study}` },
          individual: { reference: 'Patient/two-1' },
          assignedArm: arm,
          period: { start },
        }),
      });
      expect(rs.status, await rs.clone().text()).toBe(201);
      subjects[study] = ((await rs.json()) as { id: string }).id;
    }
    // Platelets and fibrinogen are measures of both studies (fibrinogen in g/L there, mg/dL here).
    await push('777-3', 45, '10*9/L', addDays(today, -12));
    await push('3255-7', 0.9, 'g/L', addDays(today, -12));
    await push('718-7', 9.5, 'g/dL', addDays(today, -12));
    await push('29247-4', 7.2, 'ng/mL', addDays(today, -3));
    await push('50544-6', 2.5, 'ng/mL', addDays(today, -2));
    await s.service.outcomes.drain();
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    rmSync(studiesDir, { recursive: true, force: true });
  });

  it('gets one card per study, each with the lines its study declares', async () => {
    // In the order the studies are loaded (their folders' names).
    const [evr, nct, ...more] = await cards('two-1');
    expect(more).toEqual([]);
    expect(nct?.source.label).toBe('Sirolimus in KHE (NCT04775173)');
    expect(nct?.summary).toBe(
      'Sirolimus in KHE, low-dose arm (5-10 ng/mL); last trough 7.2 ng/mL 3 days ago: in target',
    );
    expect(nct?.detail).toContain(`**Platelet count:** 45 ×10⁹/L on ${addDays(today, -12)} (baseline 45)`);
    expect(nct?.detail).toContain(`**Fibrinogen:** 0.90 g/L on ${addDays(today, -12)} (baseline 0.90)`);
    expect(nct?.detail).not.toContain('Haemoglobin');
    expect(JSON.parse(nct?.links[0]?.appContext ?? '{}')).toEqual({ researchSubject: subjects.nct04775173 });

    expect(evr?.source.label).toBe('EVR-01');
    // The everolimus level against the everolimus arm's 3-8 ng/mL: below, so the card warns.
    expect(evr?.summary).toBe('Trough 2.50 ng/mL below target, 2 days ago; EVR-01, everolimus arm (3-8 ng/mL)');
    expect(evr?.indicator).toBe('warning');
    // Its own labs in its own units: haemoglobin (its primary endpoint), fibrinogen in mg/dL.
    expect(evr?.detail).toContain(`**Haemoglobin:** 9.50 g/dL on ${addDays(today, -12)} (baseline 9.50)`);
    expect(evr?.detail).toContain(`**Fibrinogen:** 90.00 mg/dL on ${addDays(today, -12)} (baseline 90.00)`);
    expect(evr?.detail).toContain('**Flags:** Everolimus trough below target');
    // Its platelet count is an eligibility measure only: no outcome reads it, so no line; nothing of the other study.
    expect(evr?.detail).not.toContain('Platelet count');
    expect(evr?.detail).not.toContain('Sirolimus');
    expect(evr?.detail).not.toContain('7.2');
    expect(JSON.parse(evr?.links[0]?.appContext ?? '{}')).toEqual({ researchSubject: subjects['example-everolimus'] });
  });

  it('asks the EHR to prefetch the levels every study targets', async () => {
    const d = (await (await fetch(`${s.url}/cds-services`)).json()) as {
      services: { title: string; prefetch: Record<string, string> }[];
    };
    expect(d.services[0]?.title).toBe('Trial status (EVR-01, NCT04775173)');
    expect(d.services[0]?.prefetch.troughs).toContain('code=http://loinc.org|50544-6,http://loinc.org|29247-4&');
  });

  it('gives the trial page a part per study', async () => {
    const r = await s.call('/app/api/status/two-1', { role: 'clinician' });
    expect(r.status).toBe(200);
    const { studies } = (await r.json()) as { studies: TrialStatus[] };
    expect(studies.map((x) => [x.studyId, x.arm, x.trough?.measureId, x.labs.map((l) => l.measureId)])).toEqual([
      ['example-everolimus', 'everolimus', 'everolimus-trough', ['hemoglobin', 'fibrinogen-mass']],
      ['nct04775173', 'low-dose', 'sirolimus-trough', ['platelets', 'fibrinogen']],
    ]);
    expect(studies.map((x) => x.responses.map((o) => o.outcome))).toEqual([['lesion-category'], ['volume-response']]);
    expect(studies[0]?.visits.map((v) => v.id)).toEqual(['day-0', 'week-12', 'week-24']);
  });

  it('lists the child once per study in the coordinator overview', async () => {
    const r = await s.call('/app/api/overview', { role: 'admin' });
    expect(r.status).toBe(200);
    const rows = (await r.json()) as { patientId: string; study: string; arm: string; lastTrough: string }[];
    expect(rows.map((x) => [x.patientId, x.study, x.arm, x.lastTrough])).toEqual([
      ['two-1', 'EVR-01', 'everolimus', '2.50 ng/mL, 2 days ago'],
      ['two-1', 'Sirolimus in KHE', 'low-dose', '7.2 ng/mL, 3 days ago'],
    ]);
  });
});
