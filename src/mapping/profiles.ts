/**
 * The project's conformance resources in profiles/: StructureDefinitions (with snapshots, which
 * @medplum/core's validator requires) and CodeSystems, by canonical URL.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataType } from '@medplum/core';
import type { CodeSystem, StructureDefinition } from '@medplum/fhirtypes';
import { appError } from '../shared/app-error.ts';

export interface ProfileRegistry {
  get(url: string): StructureDefinition | undefined;
  has(url: string): boolean;
  codeSystem(url: string): CodeSystem | undefined;
  all(): StructureDefinition[];
}

export async function loadProfiles(dir = 'profiles'): Promise<ProfileRegistry> {
  const profiles = new Map<string, StructureDefinition>();
  const codeSystems = new Map<string, CodeSystem>();
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const f of files) {
    const r = JSON.parse(await readFile(join(dir, f), 'utf8')) as StructureDefinition | CodeSystem;
    if (!r.url) throw appError('PROFILE_INVALID', `${f} has no canonical url`);
    if (r.resourceType === 'StructureDefinition') {
      if (!r.snapshot?.element?.length) throw appError('PROFILE_INVALID', `${f} has no snapshot`);
      // Extensions must be known to the validator before a profile that uses them is checked.
      if (r.type === 'Extension') loadDataType(r);
      profiles.set(r.url, r);
    } else if (r.resourceType === 'CodeSystem') {
      codeSystems.set(r.url, r);
    }
  }
  return {
    get: (url) => profiles.get(url),
    has: (url) => profiles.has(url),
    codeSystem: (url) => codeSystems.get(url),
    all: () => [...profiles.values()],
  };
}
