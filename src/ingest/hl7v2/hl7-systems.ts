/**
 * Which FHIR system an HL7 v2 coding system (CWE-3) or assigning authority (CX-4) stands for: data in
 * mappings/hl7v2/systems.json, so a site's local lab code system lands on the URI its ConceptMap
 * translates from, and a v2 result is routed and mapped exactly like the same result in FHIR.
 */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { appError } from '../../shared/app-error.ts';

const SystemsSchema = z.strictObject({
  description: z.string().optional(),
  codingSystems: z.record(z.string(), z.string().min(1)),
  assigningAuthorities: z.record(z.string(), z.string().min(1)),
  defaultTimezone: z.string().regex(/^[+-]\d{2}:\d{2}$/, { error: 'defaultTimezone is an offset such as +08:00' }),
});

export type Hl7Systems = z.infer<typeof SystemsSchema>;

export async function loadHl7Systems(file = 'mappings/hl7v2/systems.json'): Promise<Hl7Systems> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw appError('MAPPING_HL7_SYSTEMS_INVALID', `${file}: ${(err as Error).message}`);
  }
  const parsed = SystemsSchema.safeParse(raw);
  if (!parsed.success)
    throw appError('MAPPING_HL7_SYSTEMS_INVALID', `${file}: ${z.prettifyError(parsed.error).split('\n')[0]}`);
  return parsed.data;
}

/** A coding system not in the table keeps a stable, recognisable URI rather than being dropped. */
export function codingSystemUri(systems: Hl7Systems, name: string): string {
  return systems.codingSystems[name] ?? `urn:hl7v2:coding-system:${encodeURIComponent(name)}`;
}

export function assigningAuthorityUri(systems: Hl7Systems, name: string): string {
  return systems.assigningAuthorities[name] ?? `urn:hl7v2:assigning-authority:${encodeURIComponent(name)}`;
}
