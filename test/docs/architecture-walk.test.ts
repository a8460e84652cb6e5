// docs/architecture.md walks one lab result from POST /fhir/Observation to a published outcome
// through at most 8 files; this keeps the walk true: every listed file exists and imports, or is
// imported by, a file listed before it, and the trial's pipeline is the one the engine is given.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');

function walk(): string[] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith('One lab result, file by file'));
  if (!section) throw new Error('docs/architecture.md has no "One lab result, file by file" section');
  return [...section.matchAll(/^\d+\. `([^`]+)`/gm)].map((m) => m[1] as string);
}

/** The repository paths a source file imports (relative imports only, type-only ones included). */
function importsOf(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string);
  return new Set(specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s))));
}

const linked = (a: string, b: string) => importsOf(a).has(b) || importsOf(b).has(a);

describe('the walk of one lab result in docs/architecture.md', () => {
  const files = walk();

  it('starts at the FHIR route, ends at the outcomes, in at most 8 files that exist', () => {
    expect(files.length).toBeGreaterThan(1);
    expect(files.length).toBeLessThanOrEqual(8);
    for (const f of files) expect(existsSync(join(ROOT, f)), f).toBe(true);
    expect(files[0]).toBe('src/fhir/http/routes.ts');
    expect(files.some((f) => f.startsWith('src/outcomes/'))).toBe(true);
  });

  it('links every file to one listed before it', () => {
    for (const [i, f] of files.entries()) {
      if (i === 0) continue;
      const before = files.slice(0, i);
      expect(
        before.some((b) => linked(b, f)),
        `${f} neither imports nor is imported by ${before.join(', ')}`,
      ).toBe(true);
    }
  });

  it('goes from the engine to the trial only through the pipeline registered at start-up', () => {
    expect(files).toContain('src/fhir/write-pipeline.ts');
    expect(files).toContain('src/ingest/trial-pipeline.ts');
    expect(importsOf('src/ingest/trial-pipeline.ts').has('src/fhir/write-pipeline.ts')).toBe(true);
    expect(importsOf('src/app/start.ts').has('src/ingest/trial-pipeline.ts')).toBe(true);
    const engine = files.filter((f) => f.startsWith('src/fhir/') || f.startsWith('src/store/'));
    for (const f of engine) {
      const trial = [...importsOf(f)].filter((i) => /^src\/(ingest|records|outcomes|mapping|jobs)\//.test(i));
      expect(trial, f).toEqual([]);
    }
  });
});
