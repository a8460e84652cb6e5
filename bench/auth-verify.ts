/**
 * What bearer-token authentication costs per request, in-process (no HTTP): the ES384 signature
 * check of a token not seen before, and the cached path taken by every later request with the same
 * token. Run: node bench/auth-verify.ts   (N=… to change the 10,000 verifications).
 */
import { issueAccessToken, verifyAccessToken } from '../src/auth/access-token.ts';
import { AuthConfigSchema, authUrls } from '../src/auth/auth-config.ts';
import { createTokenVerifier } from '../src/auth/authenticate.ts';
import { generateSigningKeys } from '../src/auth/signing-keys.ts';

const N = Number(process.env.N ?? 10_000);

async function time(label: string, fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(500, N); i++) await fn(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - start) / 1e3 / N;
  console.log(`${label.padEnd(46)} ${us.toFixed(1).padStart(8)} µs per verify  (${N} verifications)`);
  return us;
}

const config = AuthConfigSchema.parse({ production: false, dataDir: '/tmp', publicBaseUrl: 'http://127.0.0.1:8080' });
const urls = authUrls(config);
const keys = await generateSigningKeys();
const where = { issuer: urls.issuer, audience: urls.fhirBase };
const client = { id: 'bench-client', name: 'Bench', role: 'research' as const };
const { accessToken } = await issueAccessToken(keys, where, client, ['system/*.rs'], 300);

await time('ES384 signature + claims (uncached)', () => verifyAccessToken(accessToken, keys, where));
const verify = createTokenVerifier({ config, keys, cacheSize: 10_000 });
await time('authenticator, same token again (cached)', () => verify(accessToken));
// Two tokens alternating through a one-entry cache: every call misses, as a client's first
// request with a new token does.
const other = await issueAccessToken(keys, where, client, ['system/*.rs'], 300);
const missing = createTokenVerifier({ config, keys, cacheSize: 1 });
await time('authenticator, token not cached (miss)', (i) => missing(i % 2 ? accessToken : other.accessToken));
