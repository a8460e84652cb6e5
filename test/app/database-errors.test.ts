import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** One GET over a raw keep-alive socket: the body as the Content-Length header says, or a timeout. */
function rawGet(
  url: string,
  token: string,
): Promise<{ status: number; contentLength: number; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}`, connection: 'keep-alive' } }, (res) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        res.destroy();
        resolve({
          status: res.statusCode ?? 0,
          contentLength: Number(res.headers['content-length']),
          body: Buffer.concat(chunks),
          complete: false,
        });
      }, 3_000);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          contentLength: Number(res.headers['content-length']),
          body: Buffer.concat(chunks),
          complete: true,
        });
      });
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('database failures reach clients as plain OperationOutcomes', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.testDb.db.query('DROP TRIGGER IF EXISTS refuse_audit ON audit_events');
    await s.stop();
  });

  it('never echoes the database error text', async () => {
    // A paging cursor whose bound is beyond bigint: the database refuses it with a 22003.
    const cursor = Buffer.from(JSON.stringify({ bound: '99999999999999999999' })).toString('base64url');
    const res = await s.call(`/fhir/Patient?_cursor=${cursor}`);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect((JSON.parse(text) as OperationOutcome).resourceType).toBe('OperationOutcome');
    expect(text).not.toMatch(/bigint|out of range for type|99999999999999999999/);
  });

  it('answers 503 with a Content-Length that matches its body when the audit trail cannot be written', async () => {
    const created = (await (
      await s.call('/fhir/Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient', active: true }) })
    ).json()) as Patient;
    await s.testDb.db.query(`CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'audit store down' USING ERRCODE = '08006'; END $$ LANGUAGE plpgsql`);
    await s.testDb.db.query(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW
      EXECUTE FUNCTION refuse_audit()`);
    try {
      const r = await rawGet(`${s.fhir}/Patient/${created.id}`, await s.token('admin'));
      expect(r.status).toBe(503);
      expect(r.complete).toBe(true);
      expect(r.contentLength).toBe(r.body.length);
      const oo = JSON.parse(r.body.toString('utf8')) as OperationOutcome;
      expect(oo.issue?.[0]?.code).toBe('transient');
      expect(r.body.toString('utf8')).not.toContain('"Patient"');
    } finally {
      await s.testDb.db.query('DROP TRIGGER IF EXISTS refuse_audit ON audit_events');
    }
  });
});

describe('a wrong DATABASE_URL at start-up', () => {
  const start = (databaseUrl: string) =>
    spawnSync(join(ROOT, 'node_modules', '.bin', 'node'), ['src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('exits with one line naming DATABASE_URL, the password hidden', () => {
    const r = start('postgres://someone:s3cret@127.0.0.1:1/nowhere');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^CONFIG_INVALID: configuration error: DATABASE_URL: cannot open postgres:\/\/someone:\*\*\*@/,
    );
    expect(r.stderr).not.toContain('s3cret');
  });
});
