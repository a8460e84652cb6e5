import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/store/db.ts';
import { MAX_PREPARED_TEXTS, preparing } from '../../src/store/prepared.ts';
import { SoleWriter } from '../../src/store/sole-writer.ts';

/** A Queryable that notes the name each statement is sent with. */
function recording(): { q: Queryable; sent: [string, string | undefined][] } {
  const sent: [string, string | undefined][] = [];
  return {
    sent,
    q: {
      query: async (text, _params, name) => {
        sent.push([text, name]);
        return { rows: [] };
      },
      exec: async (text) => {
        sent.push([text, 'exec']);
      },
      soleWriter: new SoleWriter(),
    },
  };
}

describe('statements prepared once per connection', () => {
  it('names a statement with parameters by its text, and leaves the rest as they were', async () => {
    const { q, sent } = recording();
    const p = preparing(q);
    await p.query('SELECT $1::int', [1]);
    await p.query('SELECT $1::int', [2]);
    await p.query('SELECT $1::text', ['a']);
    await p.query('SELECT 1');
    await p.query('SELECT $1::int', [3], 'khe_own_name');
    await p.exec('SELECT 1; SELECT 2');
    const [a, b, c, d, e, f] = sent.map(([, n]) => n);
    expect(a).toMatch(/^small_[0-9a-f]{24}$/);
    expect(b).toBe(a);
    expect(c).toMatch(/^small_/);
    expect(c).not.toBe(a);
    expect(d).toBeUndefined();
    expect(e).toBe('khe_own_name');
    expect(f).toBe('exec');
    // The store's record of its own writes goes along (sole-writer.ts).
    expect(p.soleWriter).toBe(q.soleWriter);
  });

  it('names at most MAX_PREPARED_TEXTS texts: a text built from its inputs cannot fill the server with plans', async () => {
    const { q, sent } = recording();
    const p = preparing(q);
    for (let i = 0; i < MAX_PREPARED_TEXTS + 10; i++) await p.query(`SELECT $1::int + ${i}`, [i]);
    const named = new Set(sent.map(([, n]) => n).filter((n) => n !== undefined));
    // Two texts were named by the test above (the map is the process's).
    expect(named.size).toBe(MAX_PREPARED_TEXTS - 2);
    expect(sent.at(-1)?.[1]).toBeUndefined();
    // Texts named before the bound stay named.
    await p.query('SELECT $1::int', [1]);
    expect(sent.at(-1)?.[1]).toMatch(/^small_/);
  });
});
