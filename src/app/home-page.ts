/**
 * What a person who opens the service's address in a browser sees: a small page saying what this
 * is and where to go next (not a FHIR 404), and the project's documentation as plain Markdown, so
 * the links work on a hospital network without the source repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';

const PROJECT_ROOT = join(import.meta.dirname, '..', '..');

export interface HomePageOptions {
  /** The FHIR base URL clients use. */
  fhirBase: string;
  version: string;
  studyTitles: readonly string[];
  /** Where README.md and docs/ are; the project root unless a test says otherwise. */
  root?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** README.md and docs/*.md by the name they are served under; read once, at start-up. */
function readDocs(root: string): Map<string, string> {
  const docs = new Map<string, string>();
  const readme = join(root, 'README.md');
  if (existsSync(readme)) docs.set('README.md', readFileSync(readme, 'utf8'));
  const dir = join(root, 'docs');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.md')) docs.set(name, readFileSync(join(dir, name), 'utf8'));
    }
  }
  return docs;
}

/** The PNG screenshots docs/*.md show, by file name; read once, at start-up. */
function readScreenshots(root: string): Map<string, Buffer> {
  const images = new Map<string, Buffer>();
  const dir = join(root, 'docs', 'screenshots');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.png')) images.set(name, readFileSync(join(dir, name)));
    }
  }
  return images;
}

function page(o: HomePageOptions, docNames: readonly string[]): string {
  const e = escapeHtml;
  const studies = o.studyTitles.map((t) => `<li>${e(t)}</li>`).join('');
  const docs = docNames.map((n) => `<li><a href="/docs/${e(n)}">${e(n)}</a></li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>KHE trial FHIR adapter</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>KHE trial FHIR adapter</h1>
<p>A FHIR R4 adapter that connects hospital EHRs to a clinical trial: the EHR pushes lab results and
questionnaires, the adapter keeps what belongs to the trial, computes its outcomes and serves them to
research systems and clinicians. Version ${e(o.version)}.</p>
<p>Studies served:</p><ul>${studies}</ul>
<p>FHIR base: <code>${e(o.fhirBase)}</code> (every route but discovery and health needs a token).</p>
<ul>
<li><a href="/fhir/metadata">CapabilityStatement</a>: what this server implements</li>
<li><a href="/app/coordinator-launch">Coordinator overview</a>: enrolment and outcomes per subject (admin sign-in)</li>
<li><a href="/.well-known/smart-configuration">SMART configuration</a> and <a href="/cds-services">CDS Hooks services</a></li>
<li><a href="/readyz">Readiness</a></li>
</ul>
<p>Documentation:</p><ul>${docs}</ul>
</body></html>
`;
}

export function createHomeRouter(o: HomePageOptions): express.Router {
  const docs = readDocs(o.root ?? PROJECT_ROOT);
  const screenshots = readScreenshots(o.root ?? PROJECT_ROOT);
  const html = page(o, [...docs.keys()]);
  const router = express.Router();
  router.get('/', (_req, res) => {
    res.type('html').send(html);
  });
  router.get('/docs/:name', (req, res, next) => {
    const text = docs.get(req.params.name);
    if (text === undefined) {
      next();
      return;
    }
    res.type('text/markdown; charset=utf-8').send(text);
  });
  // README.md links to docs/x.md for readers of the repository; served at /docs/README.md, that
  // resolves to /docs/docs/x.md.
  router.get('/docs/docs/:name', (req, res, next) => {
    if (!docs.has(req.params.name)) {
      next();
      return;
    }
    res.redirect(301, `/docs/${encodeURIComponent(req.params.name)}`);
  });
  router.get('/docs/screenshots/:name', (req, res, next) => {
    const image = screenshots.get(req.params.name);
    if (image === undefined) {
      next();
      return;
    }
    res.type('png').send(image);
  });
  // README.md shows docs/screenshots/x.png: at /docs/README.md that is /docs/docs/screenshots/x.png.
  router.get('/docs/docs/screenshots/:name', (req, res, next) => {
    if (!screenshots.has(req.params.name)) {
      next();
      return;
    }
    res.redirect(301, `/docs/screenshots/${encodeURIComponent(req.params.name)}`);
  });
  return router;
}
