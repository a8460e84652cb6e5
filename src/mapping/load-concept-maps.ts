/**
 * ConceptMaps in mappings/conceptmaps/: a site's local codes to the standard codes the study
 * measures use. Data, not code: a new hospital's codes are a new file.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConceptMap } from '@medplum/fhirtypes';
import { AppError } from '../app/app-error.ts';

export async function loadConceptMaps(dir = 'mappings/conceptmaps'): Promise<ConceptMap[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const maps: ConceptMap[] = [];
  for (const f of files) {
    let r: ConceptMap;
    try {
      r = JSON.parse(await readFile(join(dir, f), 'utf8')) as ConceptMap;
    } catch (err) {
      throw new AppError('MAPPING_CONCEPTMAP_INVALID', `${join(dir, f)}: ${(err as Error).message}`);
    }
    if (r.resourceType !== 'ConceptMap' || !r.url || !r.group?.length) {
      throw new AppError('MAPPING_CONCEPTMAP_INVALID', `${join(dir, f)}: not a ConceptMap with a url and groups`);
    }
    maps.push(r);
  }
  return maps;
}
