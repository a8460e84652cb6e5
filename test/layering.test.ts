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
  it('pass on src/ as it is, with no known violations left', { timeout: 120_000 }, async () => {
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
      writeFileSync(join(dir, 'src/fhir/reads-gate.ts'), "export * from '../ingest/route-result.ts';\n");
      // The engine's write path reaching past the pipeline into the trial's withdrawal.
      appendFileSync(join(dir, 'src/fhir/interactions/create.ts'), "export * from '../../ingest/withdraw.ts';\n");
      // The store reaching up for a type the FHIR layer's search owns.
      writeFileSync(
        join(dir, 'src/store/parses-search.ts'),
        "import type { SearchLimits } from '../fhir/search/parse-search.ts';\nexport type Limits = SearchLimits;\n",
      );
      // A folder cycle without a file cycle: src/mapping/ → src/records/ → src/mapping/.
      writeFileSync(join(dir, 'src/mapping/uses-records.ts'), "export * from '../records/visit-window.ts';\n");
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

    it('fails a FHIR engine file importing the trial gate', () => {
      expect(ruleOf('src/fhir/reads-gate.ts', 'src/ingest/route-result.ts')).toEqual(['fhir-engine-knows-no-trial']);
    });

    it('fails the write path importing the trial instead of going through the write pipeline', () => {
      expect(ruleOf('src/fhir/interactions/create.ts', 'src/ingest/withdraw.ts')).toEqual([
        'fhir-engine-knows-no-trial',
      ]);
    });

    it('fails the store importing the FHIR layer', () => {
      expect(ruleOf('src/store/parses-search.ts', 'src/fhir/search/parse-search.ts')).toEqual([
        'store-calls-nothing-above',
      ]);
    });

    it('fails a cycle between folders', () => {
      // Each planted import above also closes folder cycles; this one closes mapping → records → mapping.
      expect(ruleOf('src/mapping', 'src/records')).toEqual(['no-folder-cycles']);
      expect(ruleOf('src/mapping/uses-records.ts', 'src/records/visit-window.ts')).toEqual([
        'mapping-calls-nothing-above',
      ]);
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
        'parses-search',
        'uses-records',
        'logs.ts',
        'uses-dev-dependency',
        'cycle-',
        'create.ts',
      ];
      const folderCycles = (v: Violation) => v.rule.name === 'no-folder-cycles';
      expect(violations.filter((v) => !folderCycles(v) && !planted.some((p) => v.from.includes(p)))).toEqual([]);
    });
  });
});
