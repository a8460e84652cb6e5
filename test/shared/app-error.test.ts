// The error catalogue (src/shared/app-error.ts): every internal error code is defined there once, with
// its message and status, and call sites name a code instead of writing their own message prefix.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ERRORS, AppError, type AppErrorCode, appError } from '../../src/shared/app-error.ts';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

describe('the error catalogue', () => {
  it('is the only place an AppError is constructed', () => {
    const elsewhere = files.filter((f) => f.path !== join('shared', 'app-error.ts') && /new AppError\(/.test(f.text));
    expect(elsewhere.map((f) => f.path)).toEqual([]);
  });

  it('defines every code the source names, and every code it defines is used', () => {
    const used = new Set<string>();
    for (const f of files) {
      for (const m of f.text.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)) {
        if ((m[1] as string) in APP_ERRORS) used.add(m[1] as string);
      }
      for (const m of f.text.matchAll(/appError\(\s*'([^']+)'/g)) {
        expect(Object.keys(APP_ERRORS), `${f.path} names ${m[1]}`).toContain(m[1]);
      }
    }
    expect([...used].sort()).toEqual(Object.keys(APP_ERRORS).sort());
  });

  it('gives each code one message with one place for the detail, and an error status', () => {
    for (const [code, def] of Object.entries(APP_ERRORS)) {
      expect(def.message.split('%s').length - 1, code).toBe(1);
      expect(def.status >= 400 && def.status < 600, code).toBe(true);
    }
  });

  it('builds errors that carry code, status and the formatted message', () => {
    const err = appError('CONFIG_INVALID', 'PORT: too big', { cause: 'x' });
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ name: 'AppError', code: 'CONFIG_INVALID', status: 500 });
    expect(err.message).toBe('configuration error: PORT: too big');
    expect(err.cause).toBe('x');
    const code: AppErrorCode = 'MAPPING_UNIT_UNKNOWN';
    expect(appError(code, '"mg/dX"').status).toBe(422);
  });
});
