/**
 * Writes profiles/*.json from the specifications and the study definitions: `npm run profiles:build`.
 * A test checks that the committed files equal what this produces, so nobody edits a snapshot by
 * hand out of step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStudyDefinitions } from '../load-studies.ts';
import type { StudyDefinition } from '../study-definition.ts';
import { buildCodeSystems } from './code-systems.ts';
import { buildProfile } from './constrain.ts';
import { measureProfileSpecs } from './measure-specs.ts';
import { PROFILE_SPECS } from './specs.ts';

const json = (r: unknown): string => `${JSON.stringify(r, null, 2)}\n`;

export function renderProfiles(studies: readonly StudyDefinition[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of [...PROFILE_SPECS, ...measureProfileSpecs(studies)]) {
    out.set(`StructureDefinition-${spec.id}.json`, json(buildProfile(spec)));
  }
  for (const cs of buildCodeSystems(studies)) out.set(`CodeSystem-${cs.id}.json`, json(cs));
  return out;
}

if (import.meta.main) {
  const root = join(import.meta.dirname, '..', '..', '..');
  const studies = await loadStudyDefinitions(join(root, 'mappings', 'studies'));
  for (const [file, text] of renderProfiles(studies)) {
    writeFileSync(join(root, 'profiles', file), text);
    process.stdout.write(`wrote profiles/${file}\n`);
  }
}
