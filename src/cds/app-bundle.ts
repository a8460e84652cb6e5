/**
 * The trial page's browser code, bundled with esbuild on first request and kept in memory: the
 * adapter serves its own JavaScript (fhirclient, Chart.js), so the page needs no CDN and works on a
 * hospital network that blocks the internet. `npm start` needs no separate build step.
 */
import { join } from 'node:path';
import { build } from 'esbuild';

const ENTRIES = ['launch', 'trial-page', 'coordinator-page'] as const;
export type AppEntry = (typeof ENTRIES)[number];

let bundles: Promise<Map<string, string>> | undefined;

export function isAppEntry(name: string): name is AppEntry {
  return (ENTRIES as readonly string[]).includes(name);
}

export function appBundles(): Promise<Map<string, string>> {
  bundles ??= build({
    entryPoints: Object.fromEntries(ENTRIES.map((e) => [e, join(import.meta.dirname, 'app', `${e}.ts`)])),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    outdir: '/app-assets',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  }).then((r) => new Map(r.outputFiles.map((f) => [f.path.split('/').pop()?.replace(/\.js$/, '') ?? '', f.text])));
  // A failed build is retried on the next request rather than cached.
  bundles.catch(() => {
    bundles = undefined;
  });
  return bundles;
}
