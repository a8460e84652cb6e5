/**
 * Prints the scrypt hash of a client secret for the clients file (`secretHash`):
 *
 *   node_modules/.bin/node src/auth/hash-secret.ts <secret>
 *   printf %s "$SECRET" | node_modules/.bin/node src/auth/hash-secret.ts -   # keeps it out of `ps`
 */
import { readFileSync } from 'node:fs';
import { hashSecret } from './secret-hash.ts';

const arg = process.argv[2];
if (arg === undefined || arg === '--help' || arg === '-h') {
  process.stderr.write('usage: node src/auth/hash-secret.ts <secret>   (or "-" to read the secret from stdin)\n');
  process.exit(arg === undefined ? 2 : 0);
}
const secret = arg === '-' ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : arg;
if (secret.length < 16) {
  process.stderr.write('refusing a secret shorter than 16 characters\n');
  process.exit(2);
}
process.stdout.write(`${await hashSecret(secret)}\n`);
