// Dead code stays out: every name src/ exports is used somewhere else (src/, test/ or bench/), or
// inside its own file. A rough word match, not a type checker: a name used only in a comment
// elsewhere would pass, which errs on the side of keeping code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Exported types that only name a shape for readers of their module. Known, listed so that
 * nothing else joins them silently.
 */
const KEPT = [
  'src/app/load-trial.ts TrialResource',
  'src/jobs/reindex-state.ts ReindexState',
  'src/mapping/study-definition.ts StudyArm',
  'src/mapping/study-definition.ts StudyVisit',
];

it('has no exported name that nothing uses', () => {
  const src = sources(join(ROOT, 'src'));
  const texts = new Map(
    [...src, ...sources(join(ROOT, 'test')), ...sources(join(ROOT, 'bench'))]
      .filter((f) => f !== import.meta.filename)
      .map((f) => [f, readFileSync(f, 'utf8')]),
  );
  const unused: string[] = [];
  for (const file of src) {
    const text = texts.get(file) as string;
    for (const m of text.matchAll(/^export (?:async )?(?:function|const|let|class|type|interface|enum) (\w+)/gm)) {
      const name = m[1] as string;
      const words = new RegExp(`\\b${name}\\b`, 'g');
      const word = new RegExp(`\\b${name}\\b`);
      const used = [...texts].some(([other, t]) => (other === file ? (t.match(words)?.length ?? 0) > 1 : word.test(t)));
      if (!used) unused.push(`${relative(ROOT, file)} ${name}`);
    }
  }
  expect(unused, 'remove these exports, or the code behind them').toEqual(KEPT);
});
