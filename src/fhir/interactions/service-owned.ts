/**
 * Derived data is the service's alone: trial records, outcomes, their Provenance, MeasureReports,
 * Flags, suggested AdverseEvents and Groups are written by the service's own stages, never through
 * the API, whichever role, id, route (PUT, POST, PATCH, DELETE, conditional, Bundle entry) a client
 * uses. A client write that replaced an outcome would strip its labels and leave the outcome worker
 * failing on the id it thinks free (issue 17).
 *
 * Three marks, none of which a client can set: the types only the service writes; the id prefixes
 * the service derives its ids with; and the `record-kind` tag system every derived resource is
 * stored with, which no client resource may carry (so a stored one was set by the service).
 */
import type { Resource } from '@medplum/fhirtypes';
import { PROJECT_BASE } from '../../mapping/trial-extensions.ts';
import { fail, forbidden } from '../../shared/outcomes.ts';
import type { FhirContext } from '../fhir-context.ts';

/** Types no client writes at all (the service derives every one it stores). */
export const SERVICE_ONLY_TYPES: ReadonlySet<string> = new Set(['Provenance', 'MeasureReport', 'Flag', 'Group']);

/** Types a client writes too, in which some resources are derived. */
const MIXED_TYPES: ReadonlySet<string> = new Set(['Observation', 'QuestionnaireResponse', 'AdverseEvent']);

/**
 * Prefixes of the ids the service derives (records/trial-record.ts `tr-`, outcomes/outcome-resources.ts
 * `oc-` and `pv-`, outcomes/measure-reports.ts `mr-`, outcomes/trough-flag.ts `fl-`,
 * outcomes/compute/safety.ts `aes-`): a client may not take one before the service does.
 */
export const SERVICE_ID_PREFIXES: readonly string[] = ['tr-', 'oc-', 'pv-', 'mr-', 'fl-', 'aes-'];

/** The meta.tag system of every derived resource (trial-record, outcome, study-group). */
export const RECORD_KIND_SYSTEM = `${PROJECT_BASE}/CodeSystem/record-kind`;

function carriesServiceTag(r: { meta?: { tag?: { system?: string }[] } } | undefined): boolean {
  return r?.meta?.tag?.some((t) => t.system === RECORD_KIND_SYSTEM) ?? false;
}

function reservedId(type: string, id: string | undefined): boolean {
  return id !== undefined && MIXED_TYPES.has(type) && SERVICE_ID_PREFIXES.some((p) => id.startsWith(p));
}

/**
 * Refuses (403) a client's write of derived data, before anything is read or written: by type, by
 * the id it names, or by the service's tag on what it sends. The service's own stages have no
 * access context and are never refused.
 */
export function refuseDerivedWrite(
  ctx: FhirContext,
  type: string,
  id: string | undefined,
  incoming: Resource | undefined,
): void {
  if (!ctx.access) return;
  const ownCreate = id === undefined && (ctx.serviceCreates?.has(type) ?? false);
  if (SERVICE_ONLY_TYPES.has(type) && !ownCreate)
    fail(forbidden(`${type} is derived by the service; clients may not write it`));
  if (reservedId(type, id)) fail(forbidden(`${type}/${id} is derived by the service; clients may not write it`));
  if (carriesServiceTag(incoming)) {
    fail(forbidden(`meta.tag ${RECORD_KIND_SYSTEM} is set by the service only`));
  }
}

/** The same refusal for what is stored: a version the service wrote carries its tag. */
export function refuseDerivedStored(
  ctx: FhirContext,
  type: string,
  id: string,
  storedContent: string | null | undefined,
): void {
  if (!ctx.access || !storedContent) return;
  if (carriesServiceTag(JSON.parse(storedContent) as Resource)) {
    fail(forbidden(`${type}/${id} is derived by the service; clients may not write it`));
  }
}
