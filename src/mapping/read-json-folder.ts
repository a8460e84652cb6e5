/** Reads every *.json file of a mappings/ folder (none if the folder does not exist), in name order. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AppErrorCode, appError } from '../shared/app-error.ts';

export async function readJsonFolder<T>(dir: string, errorCode: AppErrorCode): Promise<{ file: string; value: T }[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { file: string; value: T }[] = [];
  for (const f of files) {
    const file = join(dir, f);
    try {
      out.push({ file, value: JSON.parse(await readFile(file, 'utf8')) as T });
    } catch (err) {
      throw appError(errorCode, `${file}: ${(err as Error).message}`);
    }
  }
  return out;
}
