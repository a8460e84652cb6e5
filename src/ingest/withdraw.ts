/**
 * A correction that takes a stored result out of the trial: the EHR re-sends it for another patient
 * (a wrong-patient correction) who is not enrolled, or with a code no measure uses. Answering "not
 * retained" and keeping the stored version would leave the trial counting a value that is no longer
 * the subject's. So: its trial records are retracted (Observations and QuestionnaireResponses get an
 * entered-in-error version, as for an entered-in-error correction; AdverseEvents, which have no
 * such status in R4, are deleted), its subjects are marked, and the stored result is deleted, since
 * what it now says may not be retained (its history keeps what was received while it was).
 */
import { OperationOutcomeError } from '@medplum/core';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { refuseDerivedStored } from '../fhir/interactions/service-owned.ts';
import { putVersion } from '../fhir/interactions/write-version.ts';
import { parseSearch } from '../fhir/search/parse-search.ts';
import type { WriteAnswer, WriteContext } from '../fhir/write-pipeline.ts';
import { EXT_RESEARCH_SUBJECT, isTrialRecord } from '../mapping/trial-extensions.ts';
import { withdrawnFromTrial } from '../shared/outcomes.ts';
import { markOutcomes } from '../store/batch-write.ts';
import type { Queryable } from '../store/db.ts';
import { findObservationIds } from '../store/identifier-lookup.ts';
import { deletionWrite, readCurrent, readMany, writeVersion } from '../store/resource-store.ts';
import { matchIds } from '../store/search-store.ts';
import type { IntakeSession } from './intake.ts';
import type { RouteDecision } from './route-result.ts';

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
  const hasStatus = type === 'Observation' || type === 'QuestionnaireResponse';
  const named = await namedTrialRecords(
    q,
    gate,
    hasStatus ? ({ ...stored, status: 'entered-in-error' } as Resource) : stored,
    `${type}/${id}`,
  );
  if (!named) return retractDerivedRecords(q, baseUrl, type, id);
  for (const r of named.records) await writeRetraction(q, baseUrl, r);
  return named.subjects;
}

/**
 * Whether the trial derived records from this stored source: by the ids its routing gives them, or,
 * for a source the current mappings no longer route or map, by its trial records' derived-from.
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
  const named = await namedTrialRecords(q, gate, stored, `${type}/${id}`);
  if (!named) return (await derivedRecords(q, type, id)).length > 0;
  const refs = named.records.map((r) => ({ resourceType: r.resourceType, id: r.id as string }));
  return refs.length > 0 && (await readMany(q, refs)).length > 0;
}

/**
 * The trial records a stored source yields under the current mappings (their ids do not change),
 * and the subjects they are for; undefined when the mappings no longer route or map it (a site code,
 * unit or form taken out of mappings/ since it was kept).
 */
async function namedTrialRecords(
  q: Queryable,
  gate: IntakeSession,
  stored: Resource,
  sourceRef: string,
): Promise<{ records: Resource[]; subjects: string[] } | undefined> {
  const before = await gate.storedDecision(q, stored);
  if (!before) return undefined;
  try {
    return {
      records: gate.trialRecords(stored, sourceRef, before),
      subjects: before.enrollments.map((e) => e.researchSubjectId),
    };
  } catch (err) {
    // Not mappable now: the caller finds the records by derived-from instead.
    if (err instanceof OperationOutcomeError) return undefined;
    throw err;
  }
}

/**
 * A trial record's retraction, if it is still current: an entered-in-error version (Observation,
 * QuestionnaireResponse) or a deletion (AdverseEvent, which has no such status in R4).
 */
async function writeRetraction(q: Queryable, baseUrl: string, record: Resource): Promise<void> {
  const { resourceType: type, id } = record as Resource & { id: string };
  const current = await readCurrent(q, type, id, true);
  if (!current || current.deleted) return;
  if (type === 'AdverseEvent') await writeVersion(q, deletionWrite(type, id, current.versionId + 1), false);
  else
    await putVersion(
      q,
      baseUrl,
      { ...record, status: 'entered-in-error' } as Resource,
      id,
      current.versionId + 1,
      'PUT',
    );
}

/** Types whose trial records point at their source with derived-from (src/fhir/search/search-params.ts). */
const DERIVED_TYPES: ReadonlySet<string> = new Set(['Observation', 'QuestionnaireResponse', 'AdverseEvent']);

/** The current trial records (of the source's own type) derived from this source, not yet retracted. */
async function derivedRecords(q: Queryable, type: string, id: string): Promise<Resource[]> {
  if (!DERIVED_TYPES.has(type)) return [];
  const search = parseSearch(type, [['derived-from', `${type}/${id}`]], true);
  const ids = await matchIds(q, search, '', 1000);
  const found = await readMany(
    q,
    ids.map((x) => ({ resourceType: type, id: x })),
  );
  return found
    .map((v) => JSON.parse(v.content as string) as Resource)
    .filter((r) => isTrialRecord(r) && (r as { status?: string }).status !== 'entered-in-error');
}

/**
 * A kept source the mappings no longer route or map: its trial records are found by derived-from
 * and retracted as they are (an entered-in-error version; an AdverseEvent, which has no such
 * status in R4, is deleted).
 */
async function retractDerivedRecords(
  q: Queryable,
  baseUrl: string,
  type: string,
  id: string,
): Promise<string[] | undefined> {
  const records = await derivedRecords(q, type, id);
  if (records.length === 0) return undefined;
  const subjects = new Set<string>();
  for (const r of records) {
    await writeRetraction(q, baseUrl, r);
    const subject = (r as Observation).extension?.find((e) => e.url === EXT_RESEARCH_SUBJECT)?.valueReference
      ?.reference;
    if (subject?.startsWith('ResearchSubject/')) subjects.add(subject.slice('ResearchSubject/'.length));
  }
  return [...subjects];
}

/** Undefined when nothing of the trial is stored under this id (the caller answers "not retained"). */
export async function withdrawStored(
  ctx: WriteContext,
  gate: IntakeSession,
  q: Queryable,
  type: string,
  id: string,
  decision: Extract<RouteDecision, { retain: false }>,
): Promise<WriteAnswer | undefined> {
  const current = await readCurrent(q, type, id, true);
  if (!current?.content || current.deleted) return undefined;
  refuseDerivedStored(ctx, type, id, current.content);
  const subjects = await retractTrialRecords(q, ctx.baseUrl, gate, type, id, current.content);
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
