/**
 * At start-up each study in mappings/ is written as its ResearchStudy with a fixed id: an update
 * whose content is unchanged writes nothing, so restarts (and several instances) stay idempotent.
 */
import type { ResearchStudy } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { updateResource } from '../fhir/interactions/update.ts';
import type { ResourceValidator } from '../fhir/validate.ts';
import type { Db } from '../store/db.ts';

export async function loadTrialResources(
  db: Db,
  baseUrl: string,
  validator: ResourceValidator,
  studies: readonly ResearchStudy[],
): Promise<{ id: string; versionId: number | undefined }[]> {
  const system: FhirContext = {
    db,
    baseUrl,
    access: undefined,
    authorize: () => undefined,
    can: () => true,
    validator,
  };
  const out: { id: string; versionId: number | undefined }[] = [];
  for (const study of studies) {
    const id = study.id as string;
    const r = await db.transaction(async (tx) => {
      // Instances starting together on one database load the study one at a time.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`study:${id}`]);
      return updateResource(system, tx, 'ResearchStudy', id, study);
    });
    out.push({ id, versionId: r.versionId });
  }
  return out;
}
