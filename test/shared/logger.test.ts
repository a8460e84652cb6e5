// Logs go through pino: one JSON object per line with the fields operators index on, and tokens,
// secrets and credentials never reach the log, wherever a caller puts them.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.ts';

function capture(level: Parameters<typeof createLogger>[0] = 'debug') {
  const lines: string[] = [];
  const logger = createLogger(level, { service: 'khe' }, (l) => lines.push(l));
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

describe('logger', () => {
  it('writes one JSON line with ISO time, level name, message, base and fields', () => {
    const { logger, lines, entries } = capture();
    logger.info('started', { port: 8080 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    const e = entries()[0] as Record<string, unknown>;
    expect(e).toMatchObject({ level: 'info', msg: 'started', service: 'khe', port: 8080 });
    expect(new Date(e.time as string).toISOString()).toBe(e.time);
    expect(e).not.toHaveProperty('pid');
  });

  it('filters by level; silent writes nothing', () => {
    const warn = capture('warn');
    warn.logger.info('no');
    warn.logger.debug('no');
    warn.logger.error('yes');
    expect(warn.entries().map((e) => e.msg)).toEqual(['yes']);
    const silent = capture('silent');
    silent.logger.error('no');
    expect(silent.lines).toEqual([]);
  });

  it('children add their fields to every line', () => {
    const { logger, entries } = capture();
    logger.child({ requestId: 'r1' }).child({ client: 'c1' }).warn('slow');
    expect(entries()[0]).toMatchObject({ service: 'khe', requestId: 'r1', client: 'c1', level: 'warn', msg: 'slow' });
  });

  it('serializes an error with its name, message, code and stack', () => {
    const { logger, entries } = capture();
    const err = Object.assign(new Error('boom'), { code: 'E_BOOM' });
    logger.error('failed', { err });
    expect(entries()[0]?.err).toMatchObject({ name: 'Error', message: 'boom', code: 'E_BOOM' });
    expect((entries()[0]?.err as { stack?: string } | undefined)?.stack).toContain('boom');
  });

  it('redacts tokens, secrets and credentials at the top, one level down and in headers', () => {
    const { logger, lines } = capture();
    logger.info('token issued', {
      access_token: 'eyJ.secret-token',
      clientSecret: 'hunter2',
      client: { id: 'dev-admin', client_secret: 'hunter3' },
      req: { headers: { authorization: 'Bearer eyJ.header-token' } },
      headers: { authorization: 'Basic aHVudGVyNA==' },
      config: { DATABASE_URL: 'postgres://u:pw@db/x' },
    });
    logger.child({ token: 'child-token' }).info('child');
    const text = lines.join('');
    for (const secret of ['secret-token', 'hunter2', 'hunter3', 'header-token', 'aHVudGVyNA', 'pw@db', 'child-token']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(text).toContain('dev-admin');
  });
});
