/**
 * At start-up each study in mappings/ is written as its ResearchStudy and its Measure (the declared
 * outcomes its MeasureReports count), and each study form as its Questionnaire, with a fixed id: an update whose content is unchanged writes nothing, so restarts
 * (and several instances) stay idempotent.
 */
import type { Questionnaire, ResearchStudy, Resource } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { updateResource } from '../fhir/interactions/update.ts';
import type { ResourceValidator } from '../fhir/validate.ts';
import type { Db } from '../store/db.ts';

export async function loadTrialResources(
  db: Db,
  baseUrl: string,
  validator: ResourceValidator,
  resources: readonly Resource[],
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
  for (const resource of resources) {
    const id = resource.id as string;
    const type = resource.resourceType;
    const r = await db.transaction(async (tx) => {
      // Instances starting together on one database load each resource one at a time.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`trial:${type}/${id}`]);
      return updateResource(system, tx, type, id, resource);
    });
    out.push({ id: `${type}/${id}`, versionId: r.versionId });
  }
  return out;
}

/** A Questionnaire keeps its own id, or takes the last segment of its canonical URL. */
export function withQuestionnaireId(q: Questionnaire): Questionnaire {
  if (q.id) return q;
  const last = (q.url ?? '').split('/').pop() ?? '';
  return { ...q, id: last.replace(/[^A-Za-z0-9\-.]/g, '-').slice(0, 64) };
}

export type TrialResource = ResearchStudy | Questionnaire;
