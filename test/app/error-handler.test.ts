import type { Server } from 'node:http';
import type { OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createErrorHandler } from '../../src/app/error-handler.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { fail, gone } from '../../src/shared/outcomes.ts';

describe('error handler: every failure is an OperationOutcome with its status', () => {
  let server: Server;
  let base: string;
  const logged: string[] = [];
  beforeAll(async () => {
    const app = express();
    const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });
    app.get('/outcome', () => fail(gone('was deleted')));
    app.get('/unique', () => {
      throw pgError('23505');
    });
    app.get('/bad-input', () => {
      throw pgError('22007');
    });
    app.get('/db-down', () => {
      throw pgError('ECONNREFUSED');
    });
    app.get('/bug', async () => {
      throw new TypeError('undefined is not a function');
    });
    app.post('/json', express.json({ limit: '10b' }), (_req, res) => {
      res.end();
    });
    app.use(createErrorHandler(createLogger('error', {}, (l) => logged.push(l))));
    server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => {
    server.close();
  });

  it.each([
    ['/outcome', 410, 'deleted'],
    ['/unique', 409, 'conflict'],
    ['/bad-input', 400, 'invalid'],
    ['/db-down', 503, 'transient'],
    ['/bug', 500, 'exception'],
  ])('%s answers %i (%s)', async (path, status, code) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const oo = (await res.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.code).toBe(code);
  });

  it('maps body-parser failures: too large 413, malformed 400', async () => {
    const big = await fetch(`${base}/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":"0123456789"}',
    });
    expect(big.status).toBe(413);
    const bad = await fetch(`${base}/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
  });

  it('logs unexpected errors, without exposing them', async () => {
    const res = await fetch(`${base}/bug`);
    expect(await res.text()).not.toContain('undefined is not a function');
    expect(logged.some((l) => l.includes('undefined is not a function'))).toBe(true);
  });
});
