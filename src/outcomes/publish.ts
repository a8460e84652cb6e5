/**
 * Publishes freshly computed outcomes against what is stored, for a batch of subjects at once: a
 * value seen for the first time is created (final), a changed value becomes a new version
 * (amended), a value no longer produced is retracted (entered-in-error), an unchanged one is left
 * alone. Every new Observation version gets its Provenance. Each subject is decided on its own;
 * only the reads and writes are shared, a few statements per batch whatever its size. Runs inside
 * the recomputation's transaction, so the outcomes, their provenance and the summary rows change
 * together or not at all.
 */
import type { AdverseEvent, Flag, Observation, Resource } from '@medplum/fhirtypes';
import { prepareVersion } from '../fhir/interactions/write-version.ts';
import { writeNextVersions } from '../store/batch-update.ts';
import { writeFirstVersions } from '../store/batch-write.ts';
import type { Queryable } from '../store/db.ts';
import type { StoredContent } from '../store/outcome-store.ts';
import { deletionWrite, readDeletedVersions, type VersionWrite } from '../store/resource-store.ts';
import {
  OUTCOME_IDENTIFIER_SYSTEM,
  OUTCOME_TAG,
  outcomeObservation,
  outcomeProvenance,
  outcomeRevealsArm,
} from './outcome-resources.ts';
import type { OutcomeValue } from './outcome-value.ts';
import type { SubjectInputs } from './subject-inputs.ts';

export interface PublishResult {
  created: number;
  amended: number;
  retracted: number;
  unchanged: number;
  /** "Type/id" of every resource given a new version. */
  changed: string[];
  /** The same versions, as write-back queues them (by business identifier). */
  published: PublishedVersion[];
}

export interface PublishedVersion {
  resourceType: string;
  id: string;
  versionId: number;
  identifier: string;
  operation: 'upsert' | 'retract';
  /** The version's content; absent for a deletion. */
  resource?: Resource | undefined;
}

/** Every resource the outcomes stage writes carries this business identifier (see outcome-resources.ts). */
export function publishedVersion(
  resource: Resource,
  versionId: number,
  operation: 'upsert' | 'retract',
): PublishedVersion {
  return {
    resourceType: resource.resourceType,
    id: resource.id as string,
    versionId,
    identifier: `${OUTCOME_IDENTIFIER_SYSTEM}|${resource.id}`,
    operation,
    resource,
  };
}

/** Content equal but for meta.versionId/lastUpdated and status (final vs amended). */
function comparable(r: Resource): string {
  const { meta, ...rest } = r as Resource & { status?: string };
  const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
  const { status: _s, ...body } = rest as Record<string, unknown>;
  return JSON.stringify({ ...body, meta: m });
}

/** The outcome tag's code as it appears in a stored body (a necessary condition for isOutcome). */
const OUTCOME_CODE_JSON = JSON.stringify(OUTCOME_TAG.code);

function isOutcome(r: Resource): boolean {
  return r.meta?.tag?.some((t) => t.system === OUTCOME_TAG.system && t.code === OUTCOME_TAG.code) ?? false;
}

/** One subject's freshly computed outcomes, with its stored records (outcomes among them). */
export interface SubjectPublication {
  inputs: SubjectInputs;
  values: readonly OutcomeValue[];
  flags: readonly Flag[];
  suggestions: readonly AdverseEvent[];
  stored: readonly StoredContent[];
}

type Current = Map<string, { versionId: number; resource: Resource }>;
type Produced = [Resource, OutcomeValue | undefined][];

/** Store order: type, then id (the database's collation is by code point; ids are ASCII). */
function byKey(a: VersionWrite, b: VersionWrite): number {
  if (a.resourceType !== b.resourceType) return a.resourceType < b.resourceType ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Writes per statement: bounds one statement's size, whatever the batch. */
const WRITES_PER_STATEMENT = 2000;

/** The versions a publication writes: first versions (created) and next versions (amended, retracted, deleted). */
export interface PlannedWrites {
  firsts: VersionWrite[];
  updates: VersionWrite[];
}

/**
 * Decides every subject's outcome versions (reading only which were deleted before) and appends
 * them to `writes`, for the caller to write with others of its transaction (writePlanned): the
 * recomputation writes the outcomes and the MeasureReports they move in one pair of statements.
 */
export async function planOutcomes(
  q: Queryable,
  baseUrl: string,
  subjects: readonly SubjectPublication[],
  writes: PlannedWrites,
  slice: () => Promise<void> = async () => undefined,
): Promise<PublishResult[]> {
  const prepared: { inputs: SubjectInputs; current: Current; produced: Produced }[] = [];
  for (const p of subjects) {
    await slice();
    const current: Current = new Map();
    for (const s of p.stored) {
      // Most stored records are the subject's inputs, already parsed once for the computation: a
      // body without the JSON string "outcome" cannot carry the outcome tag (the store keeps
      // JSON.stringify's text, which never escapes a letter), so it is not parsed a second time here.
      if (!s.content.includes(OUTCOME_CODE_JSON)) continue;
      const resource = JSON.parse(s.content) as Resource;
      if (isOutcome(resource)) current.set(`${s.resourceType}/${s.id}`, { versionId: s.versionId, resource });
    }
    const produced: Produced = [
      ...p.values.map((v): [Resource, OutcomeValue] => [outcomeObservation(p.inputs, v, 'final'), v]),
      ...p.flags.map((f): [Resource, undefined] => [f, undefined]),
      ...p.suggestions.map((a): [Resource, undefined] => [a, undefined]),
    ];
    prepared.push({ inputs: p.inputs, current, produced });
  }
  // A resource deleted before (a withdrawn suggestion) and produced again continues its history.
  const deleted = await readDeletedVersions(
    q,
    prepared.flatMap(({ current, produced }) =>
      produced
        .map(([r]) => ({ resourceType: r.resourceType, id: r.id as string }))
        .filter((r) => !current.has(`${r.resourceType}/${r.id}`)),
    ),
  );
  const recorded = new Date().toISOString();
  const results: PublishResult[] = [];
  for (const { inputs, current, produced } of prepared) {
    await slice();
    results.push(planSubject(baseUrl, inputs, current, produced, deleted, recorded, writes.firsts, writes.updates));
  }
  return results;
}

/** Writes planned versions, a few statements whatever their number. */
export async function writePlanned(q: Queryable, writes: PlannedWrites): Promise<void> {
  // In key order (type, then id), as the store's indexes hold them. Outcome ids are hashes, so a
  // statement's rows would otherwise land on random leaves of every index that ends with the id
  // (the primary key, the owner indexes, each `_tag`, `code`, `visit`… group of the lookup
  // indexes); in order, each index is swept once and a leaf's rows arrive together. One batch of
  // 10,700 outcome resources written into a 10,000-subject store: 21.9–48.1 s unsorted, 13.3–18.1 s
  // sorted, a quarter fewer blocks read (docs/performance.md, issue 20).
  const firsts = [...writes.firsts].sort(byKey);
  const updates = [...writes.updates].sort(byKey);
  for (let i = 0; i < firsts.length; i += WRITES_PER_STATEMENT) {
    await writeFirstVersions(q, firsts.slice(i, i + WRITES_PER_STATEMENT));
  }
  for (let i = 0; i < updates.length; i += WRITES_PER_STATEMENT) {
    await writeNextVersions(q, updates.slice(i, i + WRITES_PER_STATEMENT));
  }
}

/** One subject's decisions: appends its writes to `firsts` and `updates`, returns what it changed. */
function planSubject(
  baseUrl: string,
  inputs: SubjectInputs,
  current: Current,
  produced: Produced,
  deleted: ReadonlyMap<string, number>,
  recorded: string,
  firsts: VersionWrite[],
  updates: VersionWrite[],
): PublishResult {
  const result: PublishResult = { created: 0, amended: 0, retracted: 0, unchanged: 0, changed: [], published: [] };
  const desired = new Set<string>();

  const put = (resource: Resource, valueForProvenance: OutcomeValue | undefined): void => {
    const key = `${resource.resourceType}/${resource.id}`;
    desired.add(key);
    const existing = current.get(key);
    if (
      existing &&
      comparable(existing.resource) === comparable(resource) &&
      (existing.resource as Observation).status !== 'entered-in-error'
    ) {
      result.unchanged++;
      return;
    }
    const deletedVersion = deleted.get(key);
    const versionId = existing ? existing.versionId + 1 : (deletedVersion ?? 0) + 1;
    if (existing && resource.resourceType === 'Observation') (resource as Observation).status = 'amended';
    const { write } = prepareVersion(baseUrl, resource, resource.id as string, versionId, 'PUT');
    (existing || deletedVersion !== undefined ? updates : firsts).push(write);
    if (existing) result.amended++;
    else result.created++;
    result.changed.push(key);
    result.published.push(publishedVersion(JSON.parse(write.content as string) as Resource, versionId, 'upsert'));
    if (valueForProvenance && resource.resourceType === 'Observation') {
      const group = byRule.get(valueForProvenance.rule.id) ?? {
        rule: valueForProvenance.rule,
        targets: [],
        sources: [],
        armRevealing: false,
      };
      group.targets.push(`Observation/${resource.id}/_history/${versionId}`);
      group.sources.push(...valueForProvenance.derivedFrom);
      group.armRevealing ||= outcomeRevealsArm(inputs, valueForProvenance);
      byRule.set(valueForProvenance.rule.id, group);
    }
  };
  const byRule = new Map<
    string,
    { rule: OutcomeValue['rule']; targets: string[]; sources: string[]; armRevealing: boolean }
  >();

  for (const [resource, value] of produced) put(resource, value);
  for (const g of byRule.values()) {
    const prov = outcomeProvenance(inputs.researchSubjectId, g.targets, g.sources, g.rule, g.armRevealing, recorded);
    firsts.push(prepareVersion(baseUrl, prov, prov.id as string, 1, 'POST').write);
  }

  // Outcomes no longer produced (an input was retracted, a visit no longer evaluable) are retracted:
  // Observations and Flags as entered-in-error versions, suggested AdverseEvents (no status in R4) deleted.
  for (const [key, { versionId, resource }] of current) {
    if (desired.has(key)) continue;
    const status = (resource as { status?: string }).status;
    if (status === 'entered-in-error') continue;
    const id = resource.id as string;
    if (resource.resourceType === 'Observation' || resource.resourceType === 'Flag') {
      const { meta, ...rest } = resource;
      const kept = { profile: meta?.profile, tag: meta?.tag, security: meta?.security };
      const retracted = { ...rest, meta: JSON.parse(JSON.stringify(kept)), status: 'entered-in-error' } as Resource;
      const { write } = prepareVersion(baseUrl, retracted, id, versionId + 1, 'PUT');
      updates.push(write);
      result.published.push(
        publishedVersion(JSON.parse(write.content as string) as Resource, versionId + 1, 'retract'),
      );
    } else {
      result.published.push({ ...publishedVersion(resource, versionId + 1, 'retract'), resource: undefined });
      updates.push(deletionWrite(resource.resourceType, id, versionId + 1));
    }
    result.retracted++;
    result.changed.push(key);
  }

  return result;
}
