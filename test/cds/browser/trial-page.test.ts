// The SMART on FHIR trial page and coordinator overview in real headless Chromium (Debian's
// chromium, driven by playwright-core), launched from a test EHR authorization server written for
// the tests. Children and results are invented. Screenshots go to test-artifacts/.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../../src/cds/dates.ts';
import { enroll } from '../../support/enroll.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
const today = new Date().toISOString().slice(0, 10);

interface AuthServer {
  base: string;
  authorizeRequests: URLSearchParams[];
  audience: { value: string };
  close(): Promise<void>;
}

/** A minimal EHR authorization server: SMART discovery, authorization code with PKCE S256, token. */
async function startAuthServer(patient: string): Promise<AuthServer> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const jwk = { ...((await exportJWK(publicKey)) as JWK), kid: 'ehr-key', alg: 'ES384', use: 'sig' };
  const app = express();
  const codes = new Map<string, { challenge: string; redirect: string; scope: string }>();
  const authorizeRequests: URLSearchParams[] = [];
  const audience = { value: '' };
  let base = '';
  app.use((req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'content-type, authorization');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });
  app.get('/fhir/.well-known/smart-configuration', (_req, res) => {
    res.json({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/jwks`,
      code_challenge_methods_supported: ['S256'],
      capabilities: ['launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient', 'permission-v1'],
    });
  });
  app.get('/jwks', (_req, res) => {
    res.json({ keys: [jwk] });
  });
  app.get('/authorize', (req, res) => {
    const q = new URLSearchParams(req.query as Record<string, string>);
    authorizeRequests.push(q);
    if (
      q.get('response_type') !== 'code' ||
      q.get('code_challenge_method') !== 'S256' ||
      !q.get('state') ||
      q.get('aud') !== `${base}/fhir`
    ) {
      res.status(400).send('bad authorization request');
      return;
    }
    const code = randomBytes(12).toString('hex');
    codes.set(code, {
      challenge: q.get('code_challenge') as string,
      redirect: q.get('redirect_uri') as string,
      scope: q.get('scope') ?? '',
    });
    res.redirect(`${q.get('redirect_uri')}?code=${code}&state=${encodeURIComponent(q.get('state') as string)}`);
  });
  app.post('/token', express.urlencoded({ extended: false }), async (req, res) => {
    const body = req.body as Record<string, string>;
    const grant = codes.get(body.code ?? '');
    const verifier = body.code_verifier ?? '';
    if (
      !grant ||
      createHash('sha256').update(verifier).digest('base64url') !== grant.challenge ||
      body.redirect_uri !== grant.redirect
    ) {
      res.status(400).json({ error: 'invalid_grant' });
      return;
    }
    codes.delete(body.code as string);
    const coordinator = grant.scope.includes('user/');
    const token = await new SignJWT({
      client_id: 'khe-trial-page',
      scope: grant.scope,
      role: coordinator ? 'admin' : 'clinician',
    })
      .setProtectedHeader({ alg: 'ES384', kid: 'ehr-key' })
      .setIssuer(base)
      .setAudience(audience.value)
      .setSubject(coordinator ? 'Practitioner/coordinator' : 'Practitioner/dr-li')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey as CryptoKey);
    res.json({
      access_token: token,
      token_type: 'Bearer',
      expires_in: 600,
      scope: grant.scope,
      ...(coordinator ? {} : { patient }),
    });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, authorizeRequests, audience, close: () => new Promise((r) => server.close(() => r())) };
}

describe('SMART on FHIR trial page in headless Chromium', () => {
  let s: TestService;
  let auth: AuthServer;
  let browser: Browser;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is installed (.ci/run installs it)').toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    auth = await startAuthServer('br-1');
    s = await startTestService({ IDP_ISSUER: auth.base, IDP_JWKS_URL: `${auth.base}/jwks`, IDP_ROLE_CLAIM: 'role' });
    auth.audience.value = s.service.config.publicBaseUrl;
    await enroll(s, 'br-1', { birthDate: '2021-02-01', start: addDays(today, -100), arm: 'low-dose' });
    await enroll(s, 'br-2', { birthDate: '2020-02-01', start: addDays(today, -20), arm: 'regular-dose' });
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
    await push('br-1', '29247-4', 7.6, 'ng/mL', addDays(today, -70));
    await push('br-1', '777-3', 150, '10*9/L', addDays(today, -70));
    await push('br-1', '3255-7', 1.9, 'g/L', addDays(today, -70));
    await push('br-1', '29247-4', 12.3, 'ng/mL', addDays(today, -9));
    await push('br-1', '118565006', 24, 'mL', addDays(today, -9), 'http://snomed.info/sct');
    await push('br-2', '29247-4', 11.2, 'ng/mL', addDays(today, -3));
    await s.service.outcomes.drain();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await auth?.close();
  });

  it('launches from the EHR (discovery, code flow with PKCE S256, state, aud) and shows the child’s course', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/app/launch?iss=${encodeURIComponent(`${auth.base}/fhir`)}&launch=L-123`);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    const q = auth.authorizeRequests.at(-1) as URLSearchParams;
    expect([q.get('launch'), q.get('code_challenge_method'), q.get('aud')]).toEqual([
      'L-123',
      'S256',
      `${auth.base}/fhir`,
    ]);
    expect(await page.textContent('#arm')).toBe('Arm: low-dose, trough target 5-10 ng/mL');
    const troughs = await page.$$eval('#table-troughs tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(troughs).toEqual([
      [addDays(today, -93), '4.1', 'below'],
      [addDays(today, -70), '7.6', 'in-range'],
      [addDays(today, -9), '12.3', 'above'],
    ]);
    for (const id of ['chart-troughs', 'chart-platelets', 'chart-fibrinogen', 'chart-volume']) {
      expect(await page.getAttribute(`#${id}`, 'role'), id).toBe('img');
      expect(await page.$eval(`#${id}`, (c) => (c as HTMLCanvasElement).width), id).toBeGreaterThan(100);
    }
    const schedule = await page.$$eval('#table-schedule tbody tr', (rows) =>
      rows.map((r) => [
        (r as HTMLTableRowElement).cells[0]?.textContent,
        (r as HTMLTableRowElement).cells[2]?.textContent,
      ]),
    );
    expect(schedule).toEqual([
      ['Baseline', 'done'],
      ['Month 1', 'done'],
      ['Month 3', 'done'],
      ['Month 6', 'not-yet-due'],
      ['Month 12', 'not-yet-due'],
    ]);
    expect(await page.$$eval('#table-volume tbody tr', (rows) => rows.map((r) => r.textContent))).toEqual([
      'month-3partial-involution',
    ]);
    expect(await page.textContent('#flags')).toContain('above target: 12.3');
    await page.screenshot({ path: `${ARTIFACTS}/trial-page.png`, fullPage: true });
    await page.close();
  });

  it('shows the coordinator every child, sortable, for the admin role', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/app/coordinator-launch?iss=${encodeURIComponent(`${auth.base}/fhir`)}`);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    const patients = () =>
      page.$$eval('#overview tbody tr', (rows) => rows.map((r) => (r as HTMLTableRowElement).cells[0]?.textContent));
    expect(await patients()).toEqual(['br-1', 'br-2']);
    await page.click('button[data-sort="patientId"]');
    expect(await patients()).toEqual(['br-2', 'br-1']);
    await page.click('button[data-sort="troughStatus"]');
    const statuses = await page.$$eval('#overview tbody tr', (rows) =>
      rows.map((r) => (r as HTMLTableRowElement).cells[6]?.textContent),
    );
    expect(statuses).toEqual(['above', 'in-range']);
    await page.screenshot({ path: `${ARTIFACTS}/coordinator-overview.png`, fullPage: true });
    await page.close();
  });

  it('refuses the page’s data to a token of another role, and the overview to a clinician', async () => {
    const clinicianToken = await s.token('clinician');
    expect(
      (await fetch(`${s.url}/app/api/overview`, { headers: { authorization: `Bearer ${clinicianToken}` } })).status,
    ).toBe(403);
    expect(
      (
        await fetch(`${s.url}/app/api/status/br-1`, {
          headers: { authorization: `Bearer ${await s.token('research')}` },
        })
      ).status,
    ).toBe(403);
    expect((await fetch(`${s.url}/app/api/status/br-1`)).status).toBe(401);
  });
});
