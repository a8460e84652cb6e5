/**
 * Loads every mappings/studies/<folder>/study.json. Adding a study means adding a folder: nothing
 * in code names a study.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { appError } from '../shared/app-error.ts';
import { type StudyDefinition, StudyDefinitionSchema } from './study-definition.ts';

/** One line: an outcome's problem names the outcome by its id, not its index. */
function firstProblem(error: z.ZodError, raw: unknown): string {
  const issue = error.issues[0];
  const [section, index, ...rest] = issue?.path ?? [];
  const outcomes = (raw as { outcomes?: { id?: unknown }[] }).outcomes;
  if (issue && section === 'outcomes' && typeof index === 'number') {
    const id = outcomes?.[index]?.id;
    if (issue.message.startsWith('outcome ')) return issue.message;
    const at = rest.length > 0 ? ` (at ${rest.join('.')})` : '';
    return `outcome ${typeof id === 'string' ? id : `#${index + 1}`}: ${issue.message}${at}`;
  }
  return z.prettifyError(error).split('\n').slice(0, 2).join(' ');
}

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
      throw appError('STUDY_DEFINITION_INVALID', `${file}: ${firstProblem(parsed.error, raw)}`);
    }
    if (studies.some((s) => s.id === parsed.data.id)) {
      throw appError('STUDY_DEFINITION_INVALID', `${file}: study id ${parsed.data.id} is defined twice`);
    }
    studies.push(parsed.data);
  }
  if (studies.length === 0) throw appError('STUDY_DEFINITION_INVALID', `none found in ${dir}`);
  return studies;
}
