// `npm ci --omit=dev && npm start` must work: everything src/ imports at run time is a production
// dependency (esbuild included: it bundles the trial page's browser code on first request), and the
// Node 24 runtime that npm scripts run on is installed without dev dependencies too.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem } from '../../src/app/node-version.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

describe('a production install', () => {
  it('has every package src/ imports in dependencies, not devDependencies', () => {
    const missing: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const imports = [
        ...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm),
        ...text.matchAll(/\bimport\('([^']+)'\)/g),
      ];
      for (const m of imports) {
        const spec = m[1] as string;
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const name = packageOf(spec);
        if (!(name in manifest.dependencies)) missing.push(`${relative(ROOT, file)} imports ${name}`);
      }
    }
    expect(missing, 'move these to dependencies: npm ci --omit=dev does not install them').toEqual([]);
  });

  it('installs the Node 24 runtime the npm scripts run on', () => {
    expect(manifest.scripts.start).toMatch(/^node /);
    expect(manifest.dependencies.node, 'the `node` package must be a dependency').toMatch(/^\^?24\./);
    expect(manifest.devDependencies.node).toBeUndefined();
  });

  it('stops with one clear line on another Node major version', () => {
    expect(nodeVersionProblem('24.3.0')).toBeUndefined();
    expect(nodeVersionProblem('20.20.2')).toMatch(/needs Node 24 \(running 20\.20\.2\); start it with npm start/);
    expect(nodeVersionProblem('26.0.0')).toMatch(/needs Node 24/);
  });
});
