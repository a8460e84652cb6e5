/**
 * ConceptMaps in mappings/conceptmaps/: a site's local codes to the standard codes the study
 * measures use. Data, not code: a new hospital's codes are a new file.
 */
import type { ConceptMap } from '@medplum/fhirtypes';
import { appError } from '../shared/app-error.ts';
import { readJsonFolder } from './read-json-folder.ts';

export async function loadConceptMaps(dir = 'mappings/conceptmaps'): Promise<ConceptMap[]> {
  const maps: ConceptMap[] = [];
  for (const { file, value: r } of await readJsonFolder<ConceptMap>(dir, 'MAPPING_CONCEPTMAP_INVALID')) {
    if (r.resourceType !== 'ConceptMap' || !r.url || !r.group?.length) {
      throw appError('MAPPING_CONCEPTMAP_INVALID', `${file}: not a ConceptMap with a url and groups`);
    }
    maps.push(r);
  }
  return maps;
}
