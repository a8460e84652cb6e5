// The layering of docs/architecture.md as .dependency-cruiser.cjs encodes it: the real src/ passes,
// and a copy of src/ with deliberately wrong imports fails, naming the rule each one breaks.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

// The CLI, as `npm run lint:layers` runs it; exit code is the number of violations.
async function cruise(cwd: string): Promise<Violation[]> {
  const args = [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src'];
  const run = promisify(execFile)(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  const { stdout } = await run.catch((error: { stdout?: string; code?: number }) => {
    if (typeof error.stdout === 'string' && error.stdout.startsWith('{')) return { stdout: error.stdout };
    throw error;
  });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('dependency rules', () => {
  it('pass on src/ as it is, its known violations listed in the config', { timeout: 120_000 }, async () => {
    expect(await cruise(ROOT)).toEqual([]);
  });

  describe('on a copy of src/ with wrong imports', () => {
    let dir = '';
    let violations: Violation[] = [];
    const ruleOf = (from: string, to?: string) =>
      violations.filter((v) => v.from === from && (to === undefined || v.to === to)).map((v) => v.rule.name);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'layering-'));
      cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
      for (const file of ['.dependency-cruiser.cjs', 'package.json']) cpSync(join(ROOT, file), join(dir, file));
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
      writeFileSync(join(dir, 'src/store/reads-outcomes.ts'), "export * from '../outcomes/recompute.ts';\n");
      // create.ts may import route-result.ts today; a new file in src/fhir/ may not.
      writeFileSync(join(dir, 'src/fhir/reads-gate.ts'), "export * from '../ingest/route-result.ts';\n");
      // create.ts's known exception is its import of route-result.ts, not of anything else in the trial.
      appendFileSync(
        join(dir, 'src/fhir/interactions/create.ts'),
        "export * from '../../records/trial-extensions.ts';\n",
      );
      writeFileSync(
        join(dir, 'src/store/types-from-records.ts'),
        "import type { DeriveInput } from '../records/trial-record.ts';\nexport type Input = DeriveInput;\n",
      );
      writeFileSync(join(dir, 'src/records/logs.ts'), "export * from '../app/metrics.ts';\n");
      writeFileSync(join(dir, 'src/outcomes/uses-dev-dependency.ts'), "export * from 'fast-check';\n");
      writeFileSync(join(dir, 'src/mapping/cycle-a.ts'), "export * from './cycle-b.ts';\nexport const a = 1;\n");
      writeFileSync(join(dir, 'src/mapping/cycle-b.ts'), "export * from './cycle-a.ts';\nexport const b = 1;\n");
      violations = await cruise(dir);
    }, 120_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('fails a store file importing the outcomes', () => {
      expect(ruleOf('src/store/reads-outcomes.ts', 'src/outcomes/recompute.ts')).toEqual(['store-calls-nothing-above']);
    });

    it('fails a type-only import as well', () => {
      expect(ruleOf('src/store/types-from-records.ts', 'src/records/trial-record.ts')).toEqual([
        'store-calls-nothing-above',
      ]);
    });

    it('fails a new FHIR engine file importing the trial gate, whatever the known exceptions', () => {
      expect(ruleOf('src/fhir/reads-gate.ts', 'src/ingest/route-result.ts')).toEqual(['fhir-engine-knows-no-trial']);
    });

    it('fails a file with a known exception importing anything besides its excepted target', () => {
      expect(ruleOf('src/fhir/interactions/create.ts')).toEqual(['fhir-engine-knows-no-trial']);
      expect(ruleOf('src/fhir/interactions/create.ts', 'src/records/trial-extensions.ts')).toHaveLength(1);
    });

    it('fails a lower layer importing src/app/', () => {
      expect(ruleOf('src/records/logs.ts', 'src/app/metrics.ts')).toEqual(['nothing-calls-app']);
    });

    it('fails src/ importing a devDependency', () => {
      expect(ruleOf('src/outcomes/uses-dev-dependency.ts')).toEqual(['src-uses-production-dependencies']);
    });

    it('fails a new cycle', () => {
      // dependency-cruiser reports a cycle once, from whichever of its modules it met first.
      expect([...ruleOf('src/mapping/cycle-a.ts'), ...ruleOf('src/mapping/cycle-b.ts')]).toEqual(['no-circular']);
    });

    it('finds nothing else', () => {
      const planted = [
        'reads-outcomes',
        'types-from-records',
        'reads-gate',
        'logs.ts',
        'uses-dev-dependency',
        'cycle-',
        'create.ts',
      ];
      expect(violations.filter((v) => !planted.some((p) => v.from.includes(p)))).toEqual([]);
    });
  });
});
