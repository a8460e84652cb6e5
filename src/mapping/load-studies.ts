/**
 * Loads every mappings/studies/<folder>/study.json. Adding a study means adding a folder: nothing
 * in code names a study.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { appError } from '../app/app-error.ts';
import { type StudyDefinition, StudyDefinitionSchema } from './study-definition.ts';

export async function loadStudyDefinitions(dir = 'mappings/studies'): Promise<StudyDefinition[]> {
  let folders: string[];
  try {
    folders = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    throw appError('STUDY_DEFINITION_INVALID', `cannot read ${dir}: ${(err as Error).message}`);
  }
  const studies: StudyDefinition[] = [];
  for (const folder of folders.sort()) {
    const file = join(dir, folder, 'study.json');
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw appError('STUDY_DEFINITION_INVALID', `${file}: ${(err as Error).message}`);
    }
    const parsed = StudyDefinitionSchema.safeParse(raw);
    if (!parsed.success) {
      const first = z.prettifyError(parsed.error).split('\n').slice(0, 2).join(' ');
      throw appError('STUDY_DEFINITION_INVALID', `${file}: ${first}`);
    }
    if (studies.some((s) => s.id === parsed.data.id)) {
      throw appError('STUDY_DEFINITION_INVALID', `${file}: study id ${parsed.data.id} is defined twice`);
    }
    studies.push(parsed.data);
  }
  if (studies.length === 0) throw appError('STUDY_DEFINITION_INVALID', `none found in ${dir}`);
  return studies;
}
