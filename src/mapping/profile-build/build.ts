/**
 * Writes the profiles from the specifications and the study definitions: `npm run profiles:build`.
 * It reads the studies from STUDIES_DIR and writes into PROFILES_DIR, the settings the service
 * reads them from (defaults mappings/studies and profiles/), so a site with its own studies builds
 * the profiles it serves. A test checks that the committed profiles/ equal what this produces for
 * the default studies, so nobody edits a snapshot by hand out of step.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadStudyDefinitions } from '../load-studies.ts';
import type { StudyDefinition } from '../study-definition.ts';
import { buildCodeSystems } from './code-systems.ts';
import { buildProfile } from './constrain.ts';
import { measureProfileSpecs } from './measure-specs.ts';
import { outcomeProfileSpecs } from './outcome-specs.ts';
import { PROFILE_SPECS } from './specs.ts';

const json = (r: unknown): string => `${JSON.stringify(r, null, 2)}\n`;
/** The files the build owns in PROFILES_DIR: any other of these names is a leftover of an older build. */
const GENERATED = /^(StructureDefinition|CodeSystem)-.+\.json$/;

export function renderProfiles(studies: readonly StudyDefinition[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of [...PROFILE_SPECS, ...measureProfileSpecs(studies), ...outcomeProfileSpecs(studies)]) {
    out.set(`StructureDefinition-${spec.id}.json`, json(buildProfile(spec)));
  }
  for (const cs of buildCodeSystems(studies)) out.set(`CodeSystem-${cs.id}.json`, json(cs));
  return out;
}

/** Renders the profiles of the studies in studiesDir into profilesDir, removing generated files no longer produced. */
export async function buildProfiles(
  studiesDir: string,
  profilesDir: string,
): Promise<{ written: string[]; removed: string[] }> {
  const rendered = renderProfiles(await loadStudyDefinitions(studiesDir));
  mkdirSync(profilesDir, { recursive: true });
  const removed = readdirSync(profilesDir).filter((f) => GENERATED.test(f) && !rendered.has(f));
  for (const f of removed) rmSync(join(profilesDir, f));
  for (const [file, text] of rendered) writeFileSync(join(profilesDir, file), text);
  return { written: [...rendered.keys()], removed };
}

if (import.meta.main) {
  const root = join(import.meta.dirname, '..', '..', '..');
  // Relative settings are read from the working directory, as the service reads them.
  const studiesDir = process.env.STUDIES_DIR ? resolve(process.env.STUDIES_DIR) : join(root, 'mappings', 'studies');
  const profilesDir = process.env.PROFILES_DIR ? resolve(process.env.PROFILES_DIR) : join(root, 'profiles');
  const { written, removed } = await buildProfiles(studiesDir, profilesDir);
  for (const f of removed) process.stdout.write(`removed ${join(profilesDir, f)}\n`);
  process.stdout.write(`wrote ${written.length} files to ${profilesDir}\n`);
}
