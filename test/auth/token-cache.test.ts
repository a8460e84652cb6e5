// The verified-token cache keeps the tokens in use: least recently used goes first when it is full.
import { describe, expect, it } from 'vitest';
import { issueAccessToken } from '../../src/auth/access-token.ts';
import { authUrls } from '../../src/auth/auth-config.ts';
import { createTokenVerifier } from '../../src/auth/authenticate.ts';
import { generateSigningKeys } from '../../src/auth/signing-keys.ts';
import { authConfig } from './auth-fixtures.ts';

describe('the verified-token cache', () => {
  it('evicts the least recently used token, not the oldest admitted', async () => {
    const config = authConfig();
    const urls = authUrls(config);
    const keys = await generateSigningKeys();
    const token = async (id: string): Promise<string> =>
      (
        await issueAccessToken(
          keys,
          { issuer: urls.issuer, audience: urls.fhirBase },
          { id, name: id, role: 'research' },
          ['system/*.rs'],
          300,
        )
      ).accessToken;
    const [a, b, c] = [await token('a'), await token('b'), await token('c')];
    const verify = createTokenVerifier({ config, keys, cacheSize: 2 });
    // A cached token is admitted synchronously; one verified afresh is a promise.
    const cached = (t: string): boolean => !(verify(t) instanceof Promise);
    await verify(a);
    await verify(b);
    expect(cached(a)).toBe(true); // a is now the most recently used
    await verify(c); // full: b goes (FIFO would drop a, the busy one)
    expect(cached(a)).toBe(true);
    expect(cached(c)).toBe(true);
    const again = verify(b);
    expect(again).toBeInstanceOf(Promise);
    expect((await again).clientId).toBe('b');
    // b came back in place of a, used less recently than c.
    expect(cached(c)).toBe(true);
    expect(cached(b)).toBe(true);
    expect(verify(a)).toBeInstanceOf(Promise);
  });
});
