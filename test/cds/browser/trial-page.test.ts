// The SMART on FHIR trial page and coordinator overview in real headless Chromium (Debian's
// chromium, driven by playwright-core), launched from a test EHR that behaves like the public SMART
// launchers (test/support/smart-launcher.ts): HS256 access tokens the adapter cannot verify, an
// RS256 id_token with fhirUser, introspection, and patient ids of its own. Children, staff and
// results are invented. Screenshots go to test-artifacts/, or to docs/screenshots/ with
// UPDATE_SCREENSHOTS=1.
import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRIAL_ROLE_SYSTEM } from '../../../src/auth/ehr-config.ts';
import { addDays } from '../../../src/cds/dates.ts';
import { utcTodayClearOfMidnight } from '../../support/calendar-day.ts';
import { enroll } from '../../support/enroll.ts';
import {
  INTROSPECTION_CLIENT,
  LAUNCHER_CLIENT_ID,
  type SmartLauncher,
  startSmartLauncher,
} from '../../support/smart-launcher.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : 'test-artifacts';
const MRN = 'urn:oid:2.16.840.1.113883.3.7418.1';
// Not within minutes of midnight UTC: the expected "N days ago" must be the service's too.
const today = await utcTodayClearOfMidnight();

describe('SMART on FHIR trial page in headless Chromium, launched as real EHRs launch', () => {
  let s: TestService;
  let ehr: SmartLauncher;
  let browser: Browser;

  const user = (id: string) => `${ehr.fhirBase}/Practitioner/${id}`;
  /** Registers a launch at the EHR, as its launcher form would, and opens the page with it. */
  const launch = async (fhirUser: string, patient: string, viewport = { width: 1280, height: 900 }): Promise<Page> => {
    const id = `L-${Math.random().toString(36).slice(2)}`;
    ehr.launches.set(id, { fhirUser, patient });
    const page = await browser.newPage({ viewport });
    await page.goto(`${s.url}/app/launch?iss=${encodeURIComponent(ehr.fhirBase)}&launch=${id}`);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    return page;
  };
  const rows = (page: Page, selector: string) =>
    page.$$eval(`${selector} tbody tr`, (trs) =>
      trs.map((r) => [...(r as HTMLTableRowElement).cells].map((td) => td.textContent)),
    );
  const ehrPatient = (id: string, mrn: string, given: string, family: string, birthDate: string) =>
    ehr.patients.set(id, {
      resourceType: 'Patient',
      id,
      identifier: [
        { system: 'urn:ehr:patient-id', value: id },
        { system: MRN, value: mrn, type: { coding: [{ code: 'MR' }] } },
      ],
      name: [{ use: 'official', family, given: [given] }],
      birthDate,
    });

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is installed (.ci/run installs it)').toBe(true);
    mkdirSync(SHOTS, { recursive: true });
    ehr = await startSmartLauncher();
    s = await startTestService({
      SMART_EHRS: JSON.stringify([
        {
          fhirBase: ehr.fhirBase,
          issuer: ehr.base,
          clientId: LAUNCHER_CLIENT_ID,
          jwksUrl: `${ehr.base}/jwks`,
          introspection: { url: `${ehr.base}/introspect`, ...INTROSPECTION_CLIENT },
        },
      ]),
      PATIENT_MRN_SYSTEM: MRN,
      TRIAL_USERS: JSON.stringify([
        { fhirUser: `${ehr.fhirBase}/Practitioner/dr-li`, trialRole: 'clinician' },
        { fhirUser: `${ehr.fhirBase}/Practitioner/coord-wu`, trialRole: 'coordinator' },
      ]),
    });
    // A blinded assessor, declared the way coordinators do it: a PractitionerRole with a trial role.
    const pr = await s.call('/fhir/PractitionerRole', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'PractitionerRole',
        active: true,
        practitioner: { reference: 'Practitioner/assessor-ma' },
        code: [{ coding: [{ system: TRIAL_ROLE_SYSTEM, code: 'blinded-clinician' }] }],
      }),
    });
    expect(pr.status).toBe(201);
    // Adapter ids (br-*) differ from the EHR's (ehr-*): only the MRN links them.
    await enroll(s, 'br-1', {
      birthDate: '2024-02-01',
      start: addDays(today, -100),
      arm: 'low-dose',
      identifier: { system: MRN, value: 'MRN-1001' },
    });
    await enroll(s, 'br-2', {
      birthDate: '2023-06-15',
      start: addDays(today, -5),
      arm: 'regular-dose',
      identifier: { system: MRN, value: 'MRN-1002' },
    });
    await enroll(s, 'br-3', {
      birthDate: '2025-01-20',
      start: addDays(today, -40),
      arm: 'low-dose',
      identifier: { system: MRN, value: 'MRN-1003' },
    });
    ehrPatient('ehr-501', 'MRN-1001', 'Mei', 'Chen', '2024-02-01');
    ehrPatient('ehr-502', 'MRN-1002', 'Hao', 'Zhang', '2023-06-15');
    ehrPatient('ehr-503', 'MRN-1003', 'Lin', 'Wang', '2025-01-20');
    ehrPatient('ehr-599', 'MRN-9999', 'Yu', 'Liu', '2022-09-09');
    // An EHR id equal to an enrolled child's adapter id, but another child's MRN: must not match br-1.
    ehrPatient('br-1', 'MRN-7777', 'Decoy', 'Same-Id', '2020-01-01');
    const push = async (
      patient: string,
      code: string,
      value: number,
      unit: string,
      date: string,
      system = 'http://loinc.org',
    ) => {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify({
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system, code }] },
          subject: { reference: `Patient/${patient}` },
          effectiveDateTime: `${date}T08:00:00+08:00`,
          valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
        }),
      });
      expect(r.status).toBe(201);
    };
    await push('br-1', '777-3', 30, '10*9/L', addDays(today, -101));
    await push('br-1', '3255-7', 0.8, 'g/L', addDays(today, -101));
    await push('br-1', '118565006', 40, 'mL', addDays(today, -101), 'http://snomed.info/sct');
    await push('br-1', '29247-4', 4.1, 'ng/mL', addDays(today, -93));
    await push('br-1', '29247-4', 7.63, 'ng/mL', addDays(today, -70));
    await push('br-1', '777-3', 150.4, '10*9/L', addDays(today, -70));
    await push('br-1', '3255-7', 1.9, 'g/L', addDays(today, -70));
    await push('br-1', '29247-4', 12.3, 'ng/mL', addDays(today, -9));
    await push('br-1', '118565006', 24, 'mL', addDays(today, -9), 'http://snomed.info/sct');
    // br-2: nothing yet. br-3: one trough, then platelets below the safety threshold.
    await push('br-3', '29247-4', 6.2, 'ng/mL', addDays(today, -20));
    await push('br-3', '777-3', 14, '10*9/L', addDays(today, -2));
    await s.service.outcomes.drain();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await ehr?.close();
  });

  it('launches with the EHR’s own tokens and ids and shows the right child: banner, words, units, charts on a time axis', async () => {
    const page = await launch(user('dr-li'), 'ehr-501');
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    const q = ehr.authorizeRequests.at(-1) as URLSearchParams;
    expect(q.get('scope')).toContain('openid fhirUser');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(await page.textContent('#banner-name')).toBe('CHEN, Mei');
    expect(await page.textContent('#banner-dob')).toMatch(/^Born 2024-02-01 \(\d+ (years|months)( \d+ months?)?\)$/);
    expect(await page.textContent('#banner-mrn')).toBe('MRN MRN-1001');
    expect(await page.textContent('#banner-study')).toBe('Sirolimus in KHE (NCT04775173)');
    // One part: the one study this child is on.
    expect(await page.$$eval('.study-part', (parts) => parts.map((p) => p.getAttribute('data-study')))).toEqual([
      'nct04775173',
    ]);
    expect(await page.textContent('#study-nct04775173')).toBe('Sirolimus in KHE (NCT04775173)');
    expect(await page.textContent('#arm-nct04775173')).toBe('Low dose arm: trough target 5-10 ng/mL');
    expect(await page.textContent('#last-trough-nct04775173')).toBe('Last 12.3 ng/mL, 9 days ago: above target');
    expect(await rows(page, '#table-troughs-nct04775173')).toEqual([
      [addDays(today, -93), '4.1', 'Below target'],
      [addDays(today, -70), '7.6', 'In target'],
      [addDays(today, -9), '12.3', 'Above target'],
    ]);
    expect(await rows(page, '#table-platelets-nct04775173')).toEqual([
      [addDays(today, -101), '30', 'Baseline'],
      [addDays(today, -70), '150', 'Month 1'],
    ]);
    expect(await page.textContent('#h-platelets-nct04775173 + * figcaption')).toBe(
      'Platelet count over time, baseline 30 ×10⁹/L',
    );
    expect((await rows(page, '#table-schedule-nct04775173')).map((r) => [r[0], r[2]])).toEqual([
      ['Baseline', 'Done'],
      ['Month 1', 'Done'],
      ['Month 3', 'Done'],
      ['Month 6', 'Not yet due'],
      ['Month 12', 'Not yet due'],
    ]);
    expect(await rows(page, '#table-volume-response-nct04775173')).toEqual([['Month 3', 'Partial involution']]);
    // One point per value, placed in proportion to time, inside a target band drawn across the axis.
    const geometry = await page.evaluate(() => {
      const chart = (window as unknown as { trialCharts: Record<string, import('chart.js').Chart> }).trialCharts[
        'chart-troughs-nct04775173'
      ];
      if (!chart) return undefined;
      const n = chart.data.datasets.length;
      return {
        labels: chart.data.datasets.map((d) => d.label),
        xs: chart.getDatasetMeta(n - 1).data.map((p) => p.x),
        ys: chart.getDatasetMeta(n - 1).data.map((p) => p.y),
        band: chart.data.datasets.slice(0, 2).map((d) => (d.data as { y: number }[]).map((p) => p.y)),
      };
    });
    expect(geometry?.labels).toEqual(['Target', 'Target 5-10 ng/mL', 'Trough (ng/mL)']);
    expect(geometry?.band).toEqual([
      [5, 5],
      [10, 10],
    ]);
    const [x1, x2, x3] = (geometry?.xs ?? []) as [number, number, number];
    // 23 days, then 61 days, between the three troughs.
    expect((x3 - x2) / (x2 - x1)).toBeCloseTo(61 / 23, 1);
    // Hovering a point shows its date.
    const box = await page.$eval('#chart-troughs-nct04775173', (c) => c.getBoundingClientRect().toJSON() as DOMRect);
    await page.mouse.move(box.x + x2, box.y + (geometry?.ys[1] as number));
    const tooltip = await page.evaluate(() => {
      const chart = (window as unknown as { trialCharts: Record<string, import('chart.js').Chart> }).trialCharts[
        'chart-troughs-nct04775173'
      ];
      return { title: chart?.tooltip?.title, body: chart?.tooltip?.body.map((b) => b.lines.join(' ')) };
    });
    expect(tooltip).toEqual({ title: [addDays(today, -70)], body: ['7.6 ng/mL'] });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: `${SHOTS}/trial-page.png`, fullPage: true });
    await page.close();
  });

  it('leads with the safety alert for a child with platelets below the threshold, and draws the band for one trough', async () => {
    const page = await launch(user('dr-li'), 'ehr-503');
    expect(await page.textContent('#critical-nct04775173')).toBe(
      `Platelets 14 ×10⁹/L on ${addDays(today, -2)}, below 20`,
    );
    expect(await page.getAttribute('#chart-troughs-nct04775173', 'data-points')).toBe('1');
    const bandLabel = await page.evaluate(
      () =>
        (window as unknown as { trialCharts: Record<string, import('chart.js').Chart> }).trialCharts[
          'chart-troughs-nct04775173'
        ]?.data.datasets[1]?.label,
    );
    expect(bandLabel).toBe('Target 5-10 ng/mL');
    await page.screenshot({ path: `${SHOTS}/trial-page-critical.png`, fullPage: true });
    await page.close();
  });

  it('says "No results yet" for measures with no results instead of drawing empty charts', async () => {
    const page = await launch(user('dr-li'), 'ehr-502');
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    for (const id of [
      'chart-troughs-nct04775173',
      'chart-platelets-nct04775173',
      'chart-fibrinogen-nct04775173',
      'chart-lesion-volume-nct04775173',
    ]) {
      expect(await page.$(`#${id}`), id).toBeNull();
      expect(await page.textContent(`#${id}-empty`), id).toBe('No results yet');
    }
    await page.screenshot({ path: `${SHOTS}/trial-page-empty.png`, fullPage: true });
    await page.close();
  });

  it('tells a clinician when the child is not enrolled, matching by MRN and never by equal ids', async () => {
    const page = await launch(user('dr-li'), 'ehr-599');
    expect(await page.getAttribute('body', 'data-problem')).toBe('not-enrolled');
    expect(await page.textContent('#message')).toBe('This child is not enrolled in NCT04775173');
    expect(await page.textContent('#banner-name')).toBe('LIU, Yu');
    await page.screenshot({ path: `${SHOTS}/error-not-enrolled.png`, fullPage: true });
    await page.close();
    const decoy = await launch(user('dr-li'), 'br-1');
    expect(await decoy.textContent('#message')).toBe('This child is not enrolled in NCT04775173');
    await decoy.close();
  });

  it('tells a user with no trial role that they are not authorised', async () => {
    const page = await launch(user('dr-nobody'), 'ehr-501');
    expect(await page.getAttribute('body', 'data-problem')).toBe('not-authorised');
    expect(await page.textContent('#message')).toBe("You are not authorised to see this trial's data");
    expect(await page.content()).not.toContain('12.3');
    await page.screenshot({ path: `${SHOTS}/error-not-authorised.png`, fullPage: true });
    await page.close();
  });

  it('shows a blinded user the child without arm, target or troughs', async () => {
    const page = await launch(user('assessor-ma'), 'ehr-501');
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    expect(await page.textContent('#arm-nct04775173')).toBe(
      'You are declared blinded in this trial: the arm, the trough target and the troughs are not shown.',
    );
    expect(await page.$('#chart-troughs-nct04775173')).toBeNull();
    const text = (await page.textContent('main')) ?? '';
    for (const revealing of ['Low dose', 'low-dose', '5-10', 'ng/mL', '12.3', 'trough above']) {
      expect(text, revealing).not.toContain(revealing);
    }
    expect(await rows(page, '#table-platelets-nct04775173')).toHaveLength(2);
    await page.close();
  });

  it('knows the user by introspection when the EHR issues no id_token', async () => {
    ehr.issueIdToken.value = false;
    try {
      const before = ehr.introspections.count;
      const page = await launch(user('dr-li'), 'ehr-501');
      expect(await page.getAttribute('body', 'data-ready')).toBe('true');
      expect(ehr.introspections.count).toBe(before + 1);
      await page.close();
    } finally {
      ehr.issueIdToken.value = true;
    }
  });

  it('fits a phone’s width and prints on one A4 page', async () => {
    const page = await launch(user('dr-li'), 'ehr-501', { width: 390, height: 844 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}/trial-page-phone.png`, fullPage: true });
    await page.close();
    const wide = await launch(user('dr-li'), 'ehr-501');
    await wide.emulateMedia({ media: 'print' });
    await wide.waitForTimeout(200);
    const pdf = (await wide.pdf({ format: 'A4', printBackground: true })).toString('latin1');
    expect(pdf.match(/\/Type\s*\/Page\b/g)?.length).toBe(1);
    await wide.close();
  });

  it('shows the coordinator every child by MRN, in the same words, sortable', async () => {
    ehr.standalone.value = { fhirUser: user('coord-wu') };
    const page = await browser.newPage();
    await page.goto(`${s.url}/app/coordinator-launch?iss=${encodeURIComponent(ehr.fhirBase)}`);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    const table = await rows(page, '#overview');
    expect(table.map((r) => [r[0], r[1], r[2]])).toEqual([
      ['br-1', 'MRN-1001', 'low-dose'],
      ['br-2', 'MRN-1002', 'regular-dose'],
      ['br-3', 'MRN-1003', 'low-dose'],
    ]);
    expect(table[0]?.[6]).toBe('12.3 ng/mL, 9 days ago');
    expect(table[0]?.[7]).toBe('Above target');
    expect(table[1]?.[6]).toBe('No results yet');
    await page.click('button[data-sort="patientId"]');
    expect((await rows(page, '#overview')).map((r) => r[0])).toEqual(['br-3', 'br-2', 'br-1']);
    await page.screenshot({ path: `${SHOTS}/coordinator-overview.png`, fullPage: true });
    await page.close();
    // A clinician launching the overview is told, in words, that it is not for them.
    ehr.standalone.value = { fhirUser: user('dr-li') };
    const clinician = await browser.newPage();
    await clinician.goto(`${s.url}/app/coordinator-launch?iss=${encodeURIComponent(ehr.fhirBase)}`);
    await clinician.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await clinician.textContent('#message')).toBe("You are not authorised to see this trial's data");
    await clinician.close();
  });

  it('refuses the EHR’s HS256 access token, a forged id_token and an unknown EHR; machine tokens keep their roles', async () => {
    const status = (headers: Record<string, string>) =>
      fetch(`${s.url}/app/api/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ patient: { identifier: [{ system: MRN, value: 'MRN-1001' }] } }),
      });
    const session = (body: unknown) =>
      fetch(`${s.url}/app/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { SignJWT, generateKeyPair } = await import('jose');
    const hs = await new SignJWT({ scope: 'patient/*.read' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ehr.base)
      .setAudience(ehr.fhirBase)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-secret-the-adapter-does-not-know!'));
    expect((await status({ authorization: `Bearer ${hs}` })).status).toBe(401);
    const rogue = await generateKeyPair('RS256');
    const forged = await new SignJWT({ fhirUser: user('dr-li') })
      .setProtectedHeader({ alg: 'RS256', kid: 'launcher-rs256' })
      .setIssuer(ehr.base)
      .setAudience(LAUNCHER_CLIENT_ID)
      .setSubject('dr-li')
      .setExpirationTime('5m')
      .sign(rogue.privateKey);
    const r = await session({ iss: ehr.fhirBase, id_token: forged });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect((await session({ iss: 'https://other-ehr.example/fhir', id_token: forged })).status).toBe(401);
    expect((await session({})).status).toBe(400);
    expect((await session('not json at all')).status).toBe(400);
    const clinician = await s.token('clinician');
    expect((await status({ authorization: `Bearer ${clinician}` })).status).toBe(200);
    expect(
      (await fetch(`${s.url}/app/api/overview`, { headers: { authorization: `Bearer ${clinician}` } })).status,
    ).toBe(403);
    expect((await status({ authorization: `Bearer ${await s.token('research')}` })).status).toBe(403);
    expect((await status({})).status).toBe(401);
  });
});
