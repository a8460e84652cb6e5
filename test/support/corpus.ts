/**
 * The public test corpus (`../shared/corpus` in the project's layout). A clone made elsewhere, as a
 * CI run's `git clone . "$(mktemp -d)"`, finds it next to the repository it was cloned from;
 * CORPUS_DIR overrides both.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

function originPath(): string | undefined {
  try {
    const url = execFileSync('git', ['-C', ROOT, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8' }).trim();
    if (url.startsWith('file://')) return url.slice('file://'.length);
    // A local path, not a network remote (scheme://… or user@host:…).
    return url && !url.includes('://') && !/^[^/]+@[^:]+:/.test(url) ? resolve(ROOT, url) : undefined;
  } catch {
    return undefined; // not a git checkout, or no origin
  }
}

function corpusDir(): string {
  if (process.env.CORPUS_DIR) return process.env.CORPUS_DIR;
  const beside = join(ROOT, '..', 'shared', 'corpus');
  if (existsSync(beside)) return beside;
  const origin = originPath();
  const besideOrigin = origin ? join(origin, '..', 'shared', 'corpus') : undefined;
  // Otherwise the expected place, so that a test's failure names it.
  return besideOrigin && existsSync(besideOrigin) ? besideOrigin : beside;
}

export const CORPUS_DIR = corpusDir();
