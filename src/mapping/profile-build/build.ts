/**
 * Writes profiles/*.json from the specifications: `npm run profiles:build`. A test checks that the
 * committed files equal what this produces, so nobody edits a snapshot by hand out of step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProfile } from './constrain.ts';
import { PROFILE_SPECS } from './specs.ts';

export function renderProfiles(): Map<string, string> {
  return new Map(
    PROFILE_SPECS.map((spec) => [
      `StructureDefinition-${spec.id}.json`,
      `${JSON.stringify(buildProfile(spec), null, 2)}\n`,
    ]),
  );
}

if (import.meta.main) {
  const dir = join(import.meta.dirname, '..', '..', '..', 'profiles');
  for (const [file, text] of renderProfiles()) {
    writeFileSync(join(dir, file), text);
    process.stdout.write(`wrote profiles/${file}\n`);
  }
}
