/**
 * The adapter's own access-token signing key (ES384). One key for all instances, kept in the
 * database: the first instance to start creates it, inside a transaction holding an advisory lock
 * (and a unique index on the current key as a second guard), and every instance loads it at start.
 * Previous keys, if a rotation ever marks the current one not current, stay in the JWKS so tokens
 * they signed keep verifying until they expire.
 */
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { Db } from '../store/db.ts';

export const ACCESS_TOKEN_ALG = 'ES384';
/** Arbitrary constant shared by every instance: "khe-adapter signing key". */
const KEY_LOCK = 7_477_517_302;

export interface SigningKeys {
  kid: string;
  alg: typeof ACCESS_TOKEN_ALG;
  privateKey: CryptoKey;
  /** Verification keys by kid (the current one and any older ones still published). */
  publicKeys: ReadonlyMap<string, CryptoKey>;
  /** The public JWKS, served at /auth/jwks.json. */
  jwks: JSONWebKeySet;
}

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: JWK;
  public_jwk: JWK;
  is_current: boolean;
}

async function createKey(): Promise<Omit<KeyRow, 'is_current'>> {
  const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { extractable: true });
  const kid = randomUUID();
  const meta = { kid, alg: ACCESS_TOKEN_ALG, use: 'sig' };
  return {
    kid,
    alg: ACCESS_TOKEN_ALG,
    private_jwk: { ...(await exportJWK(privateKey)), ...meta },
    public_jwk: { ...(await exportJWK(publicKey)), ...meta },
  };
}

export async function loadSigningKeys(db: Db): Promise<SigningKeys> {
  const rows = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
    const existing = await tx.query<KeyRow>(
      'SELECT kid, alg, private_jwk, public_jwk, is_current FROM auth_signing_keys ORDER BY created_at',
    );
    if (existing.rows.some((r) => r.is_current)) return existing.rows;
    const k = await createKey();
    await tx.query(
      `INSERT INTO auth_signing_keys (kid, alg, private_jwk, public_jwk, is_current)
       VALUES ($1, $2, $3::jsonb, $4::jsonb, true) ON CONFLICT DO NOTHING`,
      [k.kid, k.alg, JSON.stringify(k.private_jwk), JSON.stringify(k.public_jwk)],
    );
    return [...existing.rows, { ...k, is_current: true }];
  });
  return keysFromRows(rows);
}

/** A key pair held only in memory: for tests and benchmarks, never for a running service. */
export async function generateSigningKeys(): Promise<SigningKeys> {
  return keysFromRows([{ ...(await createKey()), is_current: true }]);
}

async function keysFromRows(rows: readonly KeyRow[]): Promise<SigningKeys> {
  const current = rows.find((r) => r.is_current);
  if (!current || current.alg !== ACCESS_TOKEN_ALG)
    throw new Error('no current ES384 signing key in auth_signing_keys');
  const publicKeys = new Map<string, CryptoKey>();
  for (const r of rows) {
    if (r.alg !== ACCESS_TOKEN_ALG) continue;
    publicKeys.set(r.kid, (await importJWK(r.public_jwk, r.alg)) as CryptoKey);
  }
  return {
    kid: current.kid,
    alg: ACCESS_TOKEN_ALG,
    privateKey: (await importJWK(current.private_jwk, current.alg)) as CryptoKey,
    publicKeys,
    jwks: { keys: rows.filter((r) => r.alg === ACCESS_TOKEN_ALG).map((r) => r.public_jwk) },
  };
}
