import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';
import { AppError } from '../../src/shared/app-error.ts';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.HOST).toBe('127.0.0.1');
    expect(c.DATA_DIR).toBe('./data');
    expect(c.publicBaseUrl).toBe('http://127.0.0.1:8080');
    expect(c.production).toBe(false);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://x'],
    ['BODY_LIMIT', 'huge'],
    ['PUBLIC_BASE_URL', 'not a url'],
  ])('rejects %s=%s with one line naming the setting', (key, value) => {
    try {
      loadConfig({ [key]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('CONFIG_INVALID');
      expect((err as AppError).message).toMatch(new RegExp(`^configuration error: ${key}: `));
      expect((err as AppError).message).not.toContain('\n');
    }
  });

  it('reads a CONFIG_FILE and lets the environment win', () => {
    const dir = mkdtempSync(join(tmpdir(), 'khe-cfg-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ PORT: 9090, LOG_LEVEL: 'warn' }));
    const c = loadConfig({ CONFIG_FILE: file, LOG_LEVEL: 'error' });
    expect(c.PORT).toBe(9090);
    expect(c.LOG_LEVEL).toBe('error');
  });

  it('stops npm start with one clear line and exit code 1 on a bad setting', () => {
    const node = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node');
    const r = spawnSync(node, ['src/main.ts'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { PATH: process.env.PATH ?? '', PORT: 'not-a-port' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^CONFIG_INVALID: configuration error: PORT: /);
  });
});

describe('configuration of SMART launches and trial users', () => {
  it.each([
    ['SMART_EHRS', 'not json'],
    ['SMART_EHRS', '[{"fhirBase": "https://ehr.example/fhir", "issuer": "https://ehr.example", "clientId": "p"}]'],
    ['TRIAL_USERS', '[{"fhirUser": "Practitioner/1", "trialRole": "head-of-department"}]'],
  ])('rejects %s=%s with one line naming the setting', (key, value) => {
    try {
      loadConfig({ [key]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).message).toMatch(new RegExp(`^configuration error: ${key}: `));
      expect((err as AppError).message).not.toContain('\n');
    }
  });
});
