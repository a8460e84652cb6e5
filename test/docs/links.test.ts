// The docs stay true: links lead somewhere, every setting is documented, named files and npm
// scripts exist. Reads the repository's own README.md and docs/*.md.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => join(ROOT, 'docs', n)),
];

/** Markdown without code, where a bracket or a path is an example rather than a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

/** Every relative link or image of one Markdown file that leads nowhere, as "target: why". */
function brokenLinks(file: string, markdown: string): string[] {
  const broken: string[] = [];
  for (const m of prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
    const target = m[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path = '', anchor] = target.split('#');
    const resolved = path === '' ? file : join(dirname(file), decodeURIComponent(path));
    if (!existsSync(resolved)) {
      broken.push(`${target}: no such file`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
      broken.push(`${target}: no such heading`);
    }
  }
  return broken;
}

function linkCount(markdown: string): number {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].filter(
    (m) => !/^[a-z][a-z0-9+.-]*:/i.test(m[1] as string),
  ).length;
}

/** Keys of the zod configuration schema, read from its source so optional keys count too. */
function schemaKeys(): string[] {
  const keys = new Set<string>();
  for (const f of ['src/app/config.ts', 'src/app/upstream-config.ts']) {
    const src = readFileSync(join(ROOT, f), 'utf8');
    for (const m of src.matchAll(/^\s+([A-Z][A-Z0-9_]+): z\b/gm)) keys.add(m[1] as string);
  }
  return [...keys];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((n) => n.endsWith('.ts'))
    .map((n) => join(ROOT, dir, n));
}

describe('links in README.md and docs/*.md', () => {
  it.each(DOCS.map((f) => [relative(ROOT, f), f]))('%s: every relative link leads to a file and heading', (_, file) => {
    expect(brokenLinks(file, readFileSync(file, 'utf8'))).toEqual([]);
  });

  it('checks a real number of links, and would see a broken one', () => {
    const total = DOCS.reduce((n, f) => n + linkCount(readFileSync(f, 'utf8')), 0);
    expect(total).toBeGreaterThan(30);
    const readme = join(ROOT, 'README.md');
    expect(
      brokenLinks(readme, '[a](docs/nowhere.md) [b](docs/outcomes.md#no-such-heading) `[c](not-a-link.md)`'),
    ).toEqual(['docs/nowhere.md: no such file', 'docs/outcomes.md#no-such-heading: no such heading']);
    expect(brokenLinks(readme, '[a](docs/outcomes.md#declaring-a-new-trials-outcomes)')).toEqual([]);
  });
});

describe('settings in docs/configuration.md', () => {
  const configuration = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const documented = new Set([...configuration.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));

  it('names every key of the configuration schema', () => {
    const keys = schemaKeys();
    // The source scan must find at least what the parsed defaults hold, or it is reading the wrong thing.
    const withDefaults = Object.keys(loadConfig({})).filter((k) => /^[A-Z]/.test(k));
    expect(withDefaults.filter((k) => !keys.includes(k))).toEqual([]);
    expect(keys.length).toBeGreaterThan(withDefaults.length);
    expect(keys.filter((k) => !documented.has(k))).toEqual([]);
  });

  it('gives the default the schema gives', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    const rows = new Map(
      [...configuration.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => [
        m[1] as string,
        (m[2] as string).trim(),
      ]),
    );
    const wrong: string[] = [];
    for (const [key, doc] of rows) {
      const value = defaults[key];
      if (value === undefined || value === '' || typeof value === 'object') continue;
      if (doc !== `\`${String(value)}\``) wrong.push(`${key}: documented ${doc}, schema ${String(value)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('names every variable the service, its commands and benches read from process.env', () => {
    const performance = readFileSync(join(ROOT, 'docs', 'performance.md'), 'utf8');
    const read = new Set<string>();
    for (const f of [...sourceFiles('src'), ...sourceFiles('bench')]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) read.add(m[1] as string);
    }
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((k) => !documented.has(k) && !performance.includes(`\`${k}\``))).toEqual([]);
  });
});

describe('commands and files the docs name', () => {
  const text = DOCS.map((f) => readFileSync(f, 'utf8')).join('\n');

  it('every `npm run <script>` is a script of package.json', () => {
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts,
    );
    const named = new Set([...text.matchAll(/npm run ([a-z][\w:-]*)/g)].map((m) => m[1] as string));
    expect(named.size).toBeGreaterThan(5);
    expect([...named].filter((n) => !scripts.includes(n))).toEqual([]);
  });

  it('every source, test, bench or CI file named in code spans exists', () => {
    const paths = new Set(
      [...text.matchAll(/(?:^|[\s`(])((?:src|test|bench|\.ci)\/[\w./-]+\.(?:ts|sh|json))\b/gm)].map(
        (m) => m[1] as string,
      ),
    );
    expect(paths.size).toBeGreaterThan(20);
    expect([...paths].filter((p) => !existsSync(join(ROOT, p)) || !statSync(join(ROOT, p)).isFile())).toEqual([]);
  });
});
