import { jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKeys } from '../../src/auth/signing-keys.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

describe('signing keys', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('creates one ES384 key, stores it, and gives every later load (another instance, a restart) the same key', async () => {
    const [a, b, c] = await Promise.all([loadSigningKeys(t.db), loadSigningKeys(t.db), loadSigningKeys(t.db)]);
    expect(a?.alg).toBe('ES384');
    expect(b?.kid).toBe(a?.kid);
    expect(c?.kid).toBe(a?.kid);
    const rows = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM auth_signing_keys');
    expect(rows.rows[0]?.n).toBe('1');
    const again = await loadSigningKeys(t.db);
    expect(again.kid).toBe(a?.kid);

    // A token signed by one instance verifies with the key another instance loaded.
    const token = await new SignJWT({ x: 1 }).setProtectedHeader({ alg: 'ES384', kid: a?.kid }).sign(a!.privateKey);
    const key = again.publicKeys.get(again.kid);
    expect(key).toBeDefined();
    await expect(jwtVerify(token, key!)).resolves.toBeDefined();
  });

  it('publishes only public key material in the JWKS', async () => {
    const keys = await loadSigningKeys(t.db);
    expect(keys.jwks.keys).toHaveLength(1);
    const jwk = keys.jwks.keys[0];
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-384', kid: keys.kid, alg: 'ES384', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
  });
});
