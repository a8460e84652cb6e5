// GET / in a browser: a small page about the service with working links, not a FHIR 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service.ts';

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(async () => {
  await s?.stop();
});

describe('GET /', () => {
  it('answers an HTML page naming the service, its FHIR base and the trial, without a token', async () => {
    const res = await s.call('/', { role: 'none', headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('KHE trial FHIR adapter');
    expect(html).toContain(`<code>${s.fhir}</code>`);
    expect(html).toContain('NCT04775173');
  });

  it('links to the CapabilityStatement, the coordinator overview and the docs, and every link answers', async () => {
    const html = await (await s.call('/', { role: 'none' })).text();
    const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1] as string);
    expect(links).toContain('/fhir/metadata');
    expect(links).toContain('/app/coordinator-launch');
    expect(links).toContain('/docs/README.md');
    expect(links).toContain('/docs/architecture.md');
    for (const link of links) {
      const res = await s.call(link, { role: 'none' });
      expect(res.status, link).toBe(200);
    }
  });

  it('serves the docs as Markdown and nothing else under /docs', async () => {
    const readme = await s.call('/docs/README.md', { role: 'none' });
    expect(readme.headers.get('content-type')).toMatch(/^text\/markdown/);
    expect(await readme.text()).toMatch(/^# KHE trial FHIR adapter/);
    for (const path of ['/docs/package.json', '/docs/..%2Fpackage.json', '/docs/%2e%2e%2fREADME.md']) {
      const res = await s.call(path, { role: 'none' });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });

  it('keeps the docs relative links working where they are served: every one answers 200', async () => {
    const html = await (await s.call('/', { role: 'none' })).text();
    const docs = [...html.matchAll(/href="(\/docs\/[^"]+)"/g)].map((m) => m[1] as string);
    const followed: string[] = [];
    for (const doc of docs) {
      const markdown = (await (await s.call(doc, { role: 'none' })).text())
        .replace(/^```[\s\S]*?^```/gm, '')
        .replace(/`[^`\n]*`/g, '');
      for (const m of markdown.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
        const url = new URL(target, `http://served${doc}`);
        const res = await s.call(url.pathname, { role: 'none' });
        expect(res.status, `${doc} -> ${target}`).toBe(200);
        followed.push(url.pathname);
      }
    }
    expect(followed).toContain('/docs/docs/configuration.md');
    expect(followed).toContain('/docs/screenshots/trial-page.png');
  });
});
