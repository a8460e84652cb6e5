import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hashSecret, parseSecretHash, verifySecret } from '../../src/auth/secret-hash.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

describe('secret hashes', () => {
  it('hashes in the documented scrypt$N$r$p$salt$hash form and verifies', async () => {
    const h = await hashSecret('correct horse battery staple');
    expect(h).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifySecret('correct horse battery staple', h)).toBe(true);
    expect(await verifySecret('correct horse battery stapl', h)).toBe(false);
    expect(await verifySecret('', h)).toBe(false);
    // salted: the same secret hashes differently each time
    expect(await hashSecret('correct horse battery staple')).not.toBe(h);
  });

  it('honours the parameters stored in the hash', async () => {
    const h = await hashSecret('s3cret-s3cret-s3cret', { N: 1024, r: 4, p: 2 });
    expect(h.startsWith('scrypt$1024$4$2$')).toBe(true);
    expect(await verifySecret('s3cret-s3cret-s3cret', h)).toBe(true);
  });

  it.each([
    'scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // N not a power of two
    `scrypt$${2 ** 24}$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, // too costly
    'bcrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    'scrypt$16384$8$1$AA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // salt too short
    'plain-secret',
  ])('refuses malformed hash %s', async (h) => {
    expect(parseSecretHash(h)).toBeUndefined();
    expect(await verifySecret('anything', h)).toBe(false);
  });

  it('has a CLI that prints a verifiable hash', async () => {
    const node = join(ROOT, 'node_modules', '.bin', 'node');
    const { stdout } = await run(node, [join(ROOT, 'src', 'auth', 'hash-secret.ts'), 'a-long-enough-secret'], {
      cwd: ROOT,
    });
    const hash = stdout.trim();
    expect(parseSecretHash(hash)).toBeDefined();
    expect(await verifySecret('a-long-enough-secret', hash)).toBe(true);
  });
});
