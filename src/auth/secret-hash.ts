/**
 * Client secrets are stored only as scrypt hashes, in the text form
 *
 *   scrypt$<N>$<r>$<p>$<salt, base64url>$<hash, base64url>
 *
 * e.g. scrypt$16384$8$1$q1…$Xy… (N a power of two; 16-byte salt; 32-byte hash). The parameters are
 * stored with each hash so they can be raised later without invalidating registered secrets.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16_384, r: 8, p: 1 };

// Bounds keep a hostile or mistyped registry entry from costing seconds or gigabytes per request.
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export function parseSecretHash(text: string): ParsedHash | undefined {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  const validInt = (v: number, max: number): boolean => Number.isInteger(v) && v >= 1 && v <= max;
  if (!validInt(N, MAX_N) || N < 2 || (N & (N - 1)) !== 0 || !validInt(R, MAX_R) || !validInt(P, MAX_P)) {
    return undefined;
  }
  if (!B64URL.test(salt) || !B64URL.test(hash)) return undefined;
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length < 8 || hashBytes.length < 16) return undefined;
  return { N, r: R, p: P, salt: saltBytes, hash: hashBytes };
}

function derive(secret: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, 32, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Constant-time in the secret: the comparison never stops at the first differing byte. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parsed = parseSecretHash(stored);
  if (!parsed) return false;
  const derived = await derive(secret, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(derived, parsed.hash);
}

/** A hash no secret matches, for spending the same time on unknown client ids as on known ones. */
export const DUMMY_SECRET_HASH = `scrypt$${DEFAULT_SCRYPT.N}$${DEFAULT_SCRYPT.r}$${DEFAULT_SCRYPT.p}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`;
