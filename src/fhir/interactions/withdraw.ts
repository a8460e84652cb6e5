/**
 * A correction that takes a stored result out of the trial: the EHR re-sends it for another patient
 * (a wrong-patient correction) who is not enrolled, or with a code no measure uses. Answering "not
 * retained" and keeping the stored version would leave the trial counting a value that is no longer
 * the subject's. So: its trial records are retracted (Observations and QuestionnaireResponses get an
 * entered-in-error version, as for an entered-in-error correction; AdverseEvents, which have no
 * such status in R4, are deleted), its subjects are marked, and the stored result is deleted, since
 * what it now says may not be retained (its history keeps what was received while it was).
 */
import type { Resource } from '@medplum/fhirtypes';
import type { IntakeSession } from '../../ingest/intake.ts';
import type { RouteDecision } from '../../ingest/route-result.ts';
import { isTrialRecord } from '../../records/trial-extensions.ts';
import { markOutcomes } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { findObservationIds } from '../../store/identifier-lookup.ts';
import { deletionWrite, readCurrent, readMany, writeVersion } from '../../store/resource-store.ts';
import { matchIds } from '../../store/search-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { withdrawnFromTrial } from '../outcomes.ts';
import { parseSearch } from '../search/parse-search.ts';
import { putVersion } from './write-version.ts';

/**
 * Only a result that is now for a patient who is not enrolled, or for no measure, leaves the trial;
 * one held for review (an unmapped site code) waits on the dead-letter list and is replayed.
 */
export function mayWithdraw(decision: Extract<RouteDecision, { retain: false }>): boolean {
  return decision.outcome === 'not-enrolled' || decision.outcome === 'not-relevant';
}

/** The stored resource a re-delivered POST (same identifier) is a new version of, if any. */
export async function storedByIdentifier(q: Queryable, resource: Resource): Promise<string | undefined> {
  const identifiers = ((resource as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).filter(
    (i): i is { system: string; value: string } => typeof i.system === 'string' && typeof i.value === 'string',
  );
  if (identifiers.length === 0) return undefined;
  if (resource.resourceType === 'Observation') {
    const found = await findObservationIds(q, identifiers);
    return found.values().next().value;
  }
  for (const i of identifiers) {
    const search = parseSearch(resource.resourceType, [['identifier', `${i.system}|${i.value}`]], true);
    const [id] = await matchIds(q, search, '', 1);
    if (id) return id;
  }
  return undefined;
}

/**
 * Retracts what the trial derived from a stored source: its trial records get an entered-in-error
 * version (Observations, QuestionnaireResponses) or are deleted (AdverseEvents). Returns the
 * subjects whose outcomes change, or undefined when the stored version was not kept for the trial.
 */
export async function retractTrialRecords(
  q: Queryable,
  baseUrl: string,
  gate: IntakeSession,
  type: string,
  id: string,
  content: string,
): Promise<string[] | undefined> {
  const stored = JSON.parse(content) as Resource;
  if (isTrialRecord(stored)) return undefined;
  const before = await gate.storedDecision(q, stored);
  if (!before) return undefined;
  const hasStatus = type === 'Observation' || type === 'QuestionnaireResponse';
  const records = gate.trialRecords(
    hasStatus ? ({ ...stored, status: 'entered-in-error' } as Resource) : stored,
    `${type}/${id}`,
    before,
  );
  for (const r of records) {
    const existing = await readCurrent(q, r.resourceType, r.id as string, true);
    if (!existing || existing.deleted) continue;
    if (hasStatus) await putVersion(q, baseUrl, r, r.id as string, existing.versionId + 1, 'PUT');
    else await writeVersion(q, deletionWrite(r.resourceType, r.id as string, existing.versionId + 1), false);
  }
  return before.enrollments.map((e) => e.researchSubjectId);
}

/**
 * Whether the trial derived records from this stored source (their ids follow from the source and
 * its routing). A source whose stored version the current mappings no longer map counts as not
 * kept: its records cannot be named.
 */
export async function hasTrialRecords(
  q: Queryable,
  gate: IntakeSession,
  type: string,
  id: string,
  content: string,
): Promise<boolean> {
  const stored = JSON.parse(content) as Resource;
  if (isTrialRecord(stored)) return false;
  const before = await gate.storedDecision(q, stored);
  if (!before) return false;
  let records: Resource[];
  try {
    records = gate.trialRecords(stored, `${type}/${id}`, before);
  } catch {
    return false;
  }
  const refs = records.map((r) => ({ resourceType: r.resourceType, id: r.id as string }));
  return refs.length > 0 && (await readMany(q, refs)).length > 0;
}

/** Undefined when nothing of the trial is stored under this id (the caller answers "not retained"). */
export async function withdrawStored(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  decision: Extract<RouteDecision, { retain: false }>,
): Promise<FhirResponse | undefined> {
  if (!ctx.intake) return undefined;
  const current = await readCurrent(q, type, id, true);
  if (!current?.content || current.deleted) return undefined;
  const subjects = await retractTrialRecords(q, ctx.baseUrl, ctx.intake, type, id, current.content);
  if (!subjects) return undefined;
  const ref = `${type}/${id}`;
  await writeVersion(q, deletionWrite(type, id, current.versionId + 1), false);
  await markOutcomes(q, subjects);
  return {
    status: 200,
    outcome: withdrawnFromTrial(
      `${ref} is withdrawn from the trial: its trial records are retracted and it is no longer stored. ${decision.reason}`,
    ),
  };
}
