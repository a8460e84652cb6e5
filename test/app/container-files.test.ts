// The container definition and the compose file cannot be built here (no image pulls), so their
// promises are held as text: multi-stage, production dependencies only, a non-root user, a
// HEALTHCHECK on /readyz, node as PID 1, every folder the service reads at run time copied in; and
// compose runs it against PostgreSQL 15. CI also lints the Dockerfile (dockerfilelint).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('#'));
const stages = instructions
  .join('\n')
  .split(/^FROM /m)
  .slice(1);
const runtime = stages.at(-1) ?? '';

describe('Dockerfile', () => {
  it('is multi-stage, installing production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=\S+ .*node_modules/);
    expect(runtime).not.toMatch(/npm (ci|install)(?! --omit=dev)/);
  });

  it('runs as a non-root user, with a HEALTHCHECK on /readyz and node as PID 1', () => {
    const user = runtime.match(/^USER (\S+)/m)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^HEALTHCHECK .*\/readyz/m);
    expect(runtime).toMatch(/^CMD \["node", "src\/main\.ts"\]/m);
    expect(runtime).toMatch(/NODE_ENV=production/);
  });

  it('copies every folder the service reads at run time', () => {
    const config = loadConfig({});
    const dirs = [
      config.STUDIES_DIR,
      config.PROFILES_DIR,
      config.CONCEPTMAPS_DIR,
      config.QUESTIONNAIRES_DIR,
      config.UNIT_ALIASES_FILE,
      config.HL7_SYSTEMS_FILE,
      'src/',
      'docs/',
    ].map((p) => p.split('/')[0] as string);
    const copied = [...runtime.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(' '));
    for (const dir of new Set(dirs)) expect(copied, dir).toContain(dir);
  });
});

describe('compose.yaml', () => {
  it('runs the adapter built here against PostgreSQL 15, once the database is healthy', () => {
    expect(compose).toMatch(/image: postgres:15\b/);
    expect(compose).toMatch(/build: \./);
    expect(compose).toMatch(/DATABASE_URL: postgres:\/\/\S+@db:5432\//);
    expect(compose).toMatch(/condition: service_healthy/);
    expect(compose).toMatch(/CLIENTS_FILE:/);
  });
});
