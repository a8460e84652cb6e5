// Fixtures WRITTEN FOR THE TESTS (invented children, results and EHR keys).
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRIAL_ROLE_SYSTEM } from '../../src/auth/ehr-config.ts';
import { addDays } from '../../src/cds/dates.ts';
import { countCdsFeedback } from '../../src/store/cds-feedback-store.ts';
import { utcTodayClearOfMidnight } from '../support/calendar-day.ts';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const ISS = 'https://ehr.test.example';
const MRN = 'urn:oid:1.2.36.146.595.217.0.1';
const SANDBOX = 'https://sandbox.cds-hooks.org';
// Not within minutes of midnight UTC: the expected "N days ago" must be the service's too.
const today = await utcTodayClearOfMidnight();

interface Card {
  summary: string;
  indicator: string;
  detail: string;
  source: { label: string };
  links: { type: string; url: string }[];
}

describe('CDS Hooks: trial-status service', () => {
  let s: TestService;
  let key: CryptoKey;
  let aud: string;
  const sign = (
    claims: Record<string, unknown> = {},
    opts: { alg?: string; k?: CryptoKey | Uint8Array; exp?: string } = {},
  ) =>
    new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'ES384', kid: 'ehr-1' })
      .setIssuer((claims.iss as string) ?? ISS)
      .setAudience((claims.aud as string) ?? aud)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(opts.k ?? key);
  const call = async (patientId: string, token?: string, body?: unknown) =>
    fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === '' ? {} : { authorization: `Bearer ${token ?? (await sign())}` }),
      },
      body: JSON.stringify(
        body ?? { hook: 'patient-view', hookInstance: randomUUID(), context: { patientId, userId: 'Practitioner/1' } },
      ),
    });
  const card = async (patientId: string, body?: unknown): Promise<Card | undefined> => {
    const r = await call(patientId, undefined, body);
    expect(r.status).toBe(200);
    return ((await r.json()) as { cards: Card[] }).cards[0];
  };
  const push = async (patient: string, code: string, value: number, unit: string, date: string) => {
    const r = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: `${date}T08:00:00+08:00`,
        valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
      }),
    });
    expect(r.status).toBe(201);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    key = pair.privateKey as CryptoKey;
    const jwk = (await exportJWK(pair.publicKey)) as JWK;
    s = await startTestService({
      CDS_CLIENTS: JSON.stringify([{ iss: ISS, jwks: { keys: [{ ...jwk, kid: 'ehr-1', alg: 'ES384' }] } }]),
      CDS_ALLOWED_ORIGINS: `${SANDBOX}, https://ehr-web.hospital.example`,
      PATIENT_MRN_SYSTEM: MRN,
      TRIAL_USERS: JSON.stringify([
        { fhirUser: 'Practitioner/dr-li', trialRole: 'clinician' },
        { fhirUser: 'https://ehr.test.example/fhir/Practitioner/assessor-1', trialRole: 'blinded-clinician' },
      ]),
    });
    aud = `${s.service.config.publicBaseUrl}/cds-services/trial-status`;
    // In target, nothing overdue: started 10 days ago, baseline labs done.
    await enroll(s, 'cds-ok', { birthDate: '2021-01-01', start: addDays(today, -10), arm: 'low-dose' });
    await push('cds-ok', '777-3', 45, '10*9/L', addDays(today, -12));
    await push('cds-ok', '3255-7', 0.9, 'g/L', addDays(today, -12));
    await push('cds-ok', '29247-4', 7.2, 'ng/mL', addDays(today, -3));
    // Out of target, and month-1 and month-3 visits overdue: started 120 days ago, only baseline labs.
    await enroll(s, 'cds-high', { birthDate: '2021-01-01', start: addDays(today, -120), arm: 'regular-dose' });
    await push('cds-high', '777-3', 60, '10*9/L', addDays(today, -121));
    await push('cds-high', '29247-4', 17.5, 'ng/mL', addDays(today, -2));
    // Critical: platelets below 20.
    await enroll(s, 'cds-crit', { birthDate: '2021-01-01', start: addDays(today, -5), arm: 'low-dose' });
    await push('cds-crit', '777-3', 12, '10*9/L', addDays(today, -1));
    await push('cds-crit', '29247-4', 7.1, 'ng/mL', addDays(today, -1));
    // Known to the EHR by another id: only the hospital MRN links the two.
    await enroll(s, 'cds-mrn', {
      birthDate: '2022-03-04',
      start: addDays(today, -30),
      arm: 'low-dose',
      identifier: { system: MRN, value: 'MRN-0042' },
    });
    await push('cds-mrn', '29247-4', 6.4, 'ng/mL', addDays(today, -12));
    // Last trough 50 days ago: stale past CDS_TROUGH_STALE_DAYS (35).
    await enroll(s, 'cds-stale', { birthDate: '2021-01-01', start: addDays(today, -60), arm: 'low-dose' });
    await push('cds-stale', '29247-4', 8.04, 'ng/mL', addDays(today, -50));
    await s.service.outcomes.drain();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('is discoverable with a patient-view service and prefetch templates', async () => {
    const r = await fetch(`${s.url}/cds-services`);
    const d = (await r.json()) as { services: { hook: string; id: string; prefetch: Record<string, string> }[] };
    expect(d.services.map((x) => [x.hook, x.id])).toEqual([['patient-view', 'trial-status']]);
    expect(d.services[0]?.prefetch.patient).toBe('Patient/{{context.patientId}}');
  });

  it('answers an empty card list for a patient who is not enrolled', async () => {
    const r = await call('nobody');
    expect(await r.json()).toEqual({ cards: [] });
  });

  it('shows arm, target and an in-target last trough as info, with the next visit and labs', async () => {
    const c = (await card('cds-ok')) as Card;
    expect(c.summary).toBe('Sirolimus in KHE, low-dose arm (5-10 ng/mL); last trough 7.2 ng/mL 3 days ago: in target');
    expect(c.summary.length).toBeLessThan(140);
    expect(c.indicator).toBe('info');
    expect(c.detail).toContain('**Next visit:** Month 1 (not yet due)');
    expect(c.detail).toContain('**Platelet count:** 45 ×10⁹/L');
    expect(c.detail).toContain('**Fibrinogen:** 0.90 g/L');
    expect(c.source.label).toBe('Sirolimus in KHE (NCT04775173)');
    expect(c.links[0]?.type).toBe('smart');
  });

  it('warns when the last trough is out of target and visits are overdue, with the Flag in the detail', async () => {
    const c = (await card('cds-high')) as Card;
    expect(c.indicator).toBe('warning');
    expect(c.summary).toBe(
      'Trough 17.5 ng/mL above target, 2 days ago; Sirolimus in KHE, regular-dose arm (10-15 ng/mL); Month 1, Month 3 overdue',
    );
    expect(c.summary.length).toBeLessThan(140);
    expect(c.detail).toMatch(/\*\*Overdue:\*\* Month 1.*Month 3/);
    expect(c.detail).toContain('**Flags:** Sirolimus trough above target');
  });

  it('is critical when platelets fall below the configured threshold, and says so first', async () => {
    const c = (await card('cds-crit')) as Card;
    expect(c.indicator).toBe('critical');
    expect(c.summary).toBe(
      `Platelets 12 ×10⁹/L on ${addDays(today, -1)}, below 20; Sirolimus in KHE, low-dose arm (5-10 ng/mL); last trough 7.1 ng/mL yesterday: in target`,
    );
    expect(c.summary.length).toBeLessThan(140);
    expect(c.detail).toContain('**Safety:** Platelets 12 ×10⁹/L');
  });

  it('says how old the last trough is, and warns when it is stale', async () => {
    const c = (await card('cds-stale')) as Card;
    expect(c.summary).toBe(
      'Baseline, Month 1 overdue; Sirolimus in KHE, low-dose arm (5-10 ng/mL); last trough 8.0 ng/mL 50 days ago, stale: in target',
    );
    expect(c.indicator).toBe('warning');
    expect(c.detail).toContain(`**No recent trough:** the last was 50 days ago (${addDays(today, -50)})`);
  });

  it('finds a child the EHR knows by another id through the prefetched Patient’s MRN', async () => {
    const ehrPatient = {
      resourceType: 'Patient',
      id: 'ehr-77812',
      identifier: [
        { system: 'urn:ehr:internal', value: 'cds-ok' },
        { system: MRN, value: 'MRN-0042' },
      ],
    };
    const hook = (prefetch?: Record<string, unknown>) => ({
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { patientId: 'ehr-77812', userId: 'Practitioner/dr-li' },
      ...(prefetch ? { prefetch } : {}),
    });
    const c = (await card('ehr-77812', hook({ patient: ehrPatient }))) as Card;
    expect(c.summary).toContain('last trough 6.4 ng/mL 12 days ago');
    // Without the MRN the EHR's id means nothing here: no card rather than someone else's.
    expect(await card('ehr-77812', hook())).toBeUndefined();
    // The MRN decides even when the EHR's id happens to be an enrolled child's id.
    const same = (await card('cds-ok', {
      ...hook({ patient: { ...ehrPatient, id: 'cds-ok' } }),
      context: { patientId: 'cds-ok' },
    })) as Card;
    expect(same.summary).toContain('6.4');
    const unknownMrn = { ...ehrPatient, identifier: [{ system: MRN, value: 'MRN-NOBODY' }] };
    expect(
      await card('cds-ok', { ...hook({ patient: unknownMrn }), context: { patientId: 'cds-ok' } }),
    ).toBeUndefined();
  });

  it.each([
    ['listed in TRIAL_USERS', 'https://ehr.test.example/fhir/Practitioner/assessor-1'],
    ['declared by a PractitionerRole', 'Practitioner/assessor-2'],
  ])('gives a blinded user (%s) a card without arm, target or trough', async (_how, userId) => {
    const pr = await s.call('/fhir/PractitionerRole', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'PractitionerRole',
        active: true,
        practitioner: { reference: 'Practitioner/assessor-2' },
        code: [{ coding: [{ system: TRIAL_ROLE_SYSTEM, code: 'blinded-clinician' }] }],
      }),
    });
    expect(pr.status).toBe(201);
    const body = (patientId: string, user: string) => ({
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { patientId, userId: user },
    });
    const high = (await card('cds-high', body('cds-high', userId))) as Card;
    const text = JSON.stringify(high);
    for (const revealing of ['regular-dose', 'low-dose', '10-15', 'ng/mL', '17.5', 'last trough', 'Trough 1']) {
      expect(text, revealing).not.toContain(revealing);
    }
    expect(high.summary).toBe('Month 1, Month 3 overdue; Sirolimus in KHE; next: Month 6');
    expect(high.indicator).toBe('warning');
    expect(high.detail).toContain('you are declared blinded');
    const crit = (await card('cds-crit', body('cds-crit', userId))) as Card;
    expect(crit.summary.startsWith(`Platelets 12 ×10⁹/L on ${addDays(today, -1)}, below 20; Sirolimus in KHE`)).toBe(
      true,
    );
    expect(JSON.stringify(crit)).not.toContain('7.1');
    // The same call for an unblinded clinician shows the trough.
    expect((await card('cds-high', body('cds-high', 'Practitioner/dr-li')))?.summary).toContain('17.5');
  });

  it('answers browsers of the configured EHR origins (CORS preflight, discovery, calls, feedback)', async () => {
    for (const path of ['/cds-services', '/cds-services/trial-status', '/cds-services/trial-status/feedback']) {
      const pre = await fetch(`${s.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: SANDBOX,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(pre.status, path).toBe(204);
      expect(pre.headers.get('access-control-allow-origin'), path).toBe(SANDBOX);
      expect(pre.headers.get('access-control-allow-methods'), path).toContain('POST');
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase(), path).toContain('authorization');
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase(), path).toContain('content-type');
    }
    const discovery = await fetch(`${s.url}/cds-services`, { headers: { origin: SANDBOX } });
    expect(discovery.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    expect(discovery.headers.get('vary')).toMatch(/origin/i);
    const r = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: { origin: SANDBOX, 'content-type': 'application/json', authorization: `Bearer ${await sign()}` },
      body: JSON.stringify({ hook: 'patient-view', hookInstance: randomUUID(), context: { patientId: 'cds-ok' } }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    // Refusals carry the header too, or the browser hides the reason from the EHR's page.
    const refused = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: { origin: SANDBOX, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(SANDBOX);
  });

  it('gives an origin that is not configured no CORS headers', async () => {
    const pre = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'OPTIONS',
      headers: { origin: 'https://rogue.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const get = await fetch(`${s.url}/cds-services`, { headers: { origin: 'https://rogue.example' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('uses a trough the EHR prefetched before the feed delivered it', async () => {
    const body = {
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { patientId: 'cds-ok' },
      prefetch: {
        troughs: {
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [
            {
              resource: {
                resourceType: 'Observation',
                id: 'ehr-77',
                status: 'final',
                code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
                effectiveDateTime: `${addDays(today, -1)}T07:00:00+08:00`,
                valueQuantity: { value: 4.4, unit: 'nmol/L', system: 'http://unitsofmeasure.org', code: 'nmol/L' },
              },
            },
          ],
        },
      },
    };
    const c = (await card('cds-ok', body)) as Card;
    expect(c.summary).toContain('Trough 4.0 ng/mL below target, yesterday');
    expect(c.indicator).toBe('warning');
  });

  it.each([
    ['no token', async () => ''],
    [
      'an unsigned token (alg none)',
      async () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISS, aud, jti: 'x', exp: 9999999999 })).toString('base64url')}.`,
    ],
    [
      'an HMAC token',
      async () => sign({}, { alg: 'HS256', k: new TextEncoder().encode('a-shared-secret-of-32-bytes-long!!') }),
    ],
    ['a wrong audience', async () => sign({ aud: 'https://elsewhere.example/cds-services/trial-status' })],
    ['an expired token', async () => sign({}, { exp: '-1m' })],
    ['an unknown issuer', async () => sign({ iss: 'https://rogue.example' })],
    ['a token that is not a JWT', async () => 'not-a-jwt'],
  ])('refuses %s with 401', async (_name, token) => {
    const r = await call('cds-ok', await token());
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: string }).error).toMatch(/^CDS_AUTH_/);
  });

  it('refuses a replayed token (same jti)', async () => {
    const t = await sign();
    expect((await call('cds-ok', t)).status).toBe(200);
    const again = await call('cds-ok', t);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: string }).error).toBe('CDS_AUTH_REPLAY');
  });

  it('answers 400 to a request that is not a patient-view call', async () => {
    const r = await call('cds-ok', undefined, { hook: 'order-select', hookInstance: 'x', context: {} });
    expect(r.status).toBe(400);
  });

  it('records card feedback', async () => {
    const uuid = randomUUID();
    const r = await fetch(`${s.url}/cds-services/trial-status/feedback`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await sign({ aud: `${aud}/feedback` })}`,
      },
      body: JSON.stringify({
        feedback: [
          {
            card: uuid,
            outcome: 'overridden',
            overrideReason: { userComment: 'seen today' },
            outcomeTimestamp: new Date().toISOString(),
          },
        ],
      }),
    });
    expect(r.status).toBe(200);
    expect(await countCdsFeedback(s.service.db, uuid)).toBe(1);
  });
});
