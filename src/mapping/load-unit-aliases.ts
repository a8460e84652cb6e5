/** mappings/unit-aliases.json: unit spellings sites send that are not UCUM, and what they mean. */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { appError } from '../shared/app-error.ts';

const AliasesFile = z.object({ description: z.string().optional(), aliases: z.record(z.string(), z.string()) });

export async function loadUnitAliases(file = 'mappings/unit-aliases.json'): Promise<Record<string, string>> {
  try {
    return AliasesFile.parse(JSON.parse(await readFile(file, 'utf8'))).aliases;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw appError('MAPPING_UNIT_ALIASES_INVALID', `${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}
