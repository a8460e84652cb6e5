/**
 * The one place that enforces outcome-assessor blinding (NCT04775173 is single-masked: outcome
 * assessors must not learn a participant's arm). Every resource sent to a blinded caller goes
 * through maskForAccess (Bundles through maskBundle), and every search they run through
 * assertQueryAllowed and blindedSearchExclusions.
 *
 * What reveals an arm is decided once, when a resource is stored: the ingest labels it
 * ARM_REVEALING_SECURITY_LABEL from what its study declares (study.json armRevealing: measures,
 * codes, drug names, medications, outcome kinds, forms; src/ingest/arm-revealing.ts), and the
 * service's own producers label per-arm Groups, MeasureReports, trough Flags and outcomes. Masking
 * reads only that stored label: in SQL for searches, totals, history and exports, here for bodies.
 * What a blinded caller never sees:
 * - ResearchSubject.assignedArm and .actualArm (removed; the rest of the subject stays visible);
 * - any narrative (text), which is written from the whole resource and may name the arm;
 * - any resource labelled arm-revealing: it answers exactly as a resource that does not exist.
 */
import type { Bundle, BundleEntry, Coding, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { forbidden, notFound, OperationOutcomeError } from '../shared/outcomes.ts';
import type { AccessContext } from './access-context.ts';

export const ARM_REVEALING_SECURITY_LABEL = {
  system: 'https://khe-trial.example.org/fhir/CodeSystem/security',
  code: 'arm-revealing',
} as const;

export function isBlinded(access: AccessContext | undefined): boolean {
  return access?.role === 'outcome-assessor';
}

function sameCoding(a: Coding, b: Readonly<Coding>): boolean {
  return a.system === b.system && a.code === b.code;
}

/** Whether a blinded caller must not see this resource at all: it carries the stored label. */
export function isArmRevealing(resource: Resource): boolean {
  return resource.meta?.security?.some((c) => sameCoding(c, ARM_REVEALING_SECURITY_LABEL)) === true;
}

/** What a batch or transaction answers for a resource that is not there. */
function absentEntry(entry: BundleEntry): BundleEntry {
  const { resourceType, id } = entry.resource as Resource;
  return { response: { status: '404 Not Found', outcome: notFound(`${resourceType}/${id} not found`) } };
}

function maskEntries(entries: BundleEntry[], oneEntryPerRequest: boolean): BundleEntry[] {
  const out: BundleEntry[] = [];
  for (const entry of entries) {
    if (entry.resource === undefined) {
      out.push(entry);
      continue;
    }
    const masked = maskBlinded(entry.resource);
    // A batch answers each request in its place: a hidden resource answers as an absent one.
    if (masked === undefined) {
      if (oneEntryPerRequest) out.push(absentEntry(entry));
      continue;
    }
    out.push(masked === entry.resource ? entry : { ...entry, resource: masked });
  }
  return out;
}

function maskParameters(params: ParametersParameter[]): ParametersParameter[] {
  const out: ParametersParameter[] = [];
  for (const p of params) {
    let next: ParametersParameter = p;
    if (p.resource !== undefined) {
      const masked = maskBlinded(p.resource);
      if (masked === undefined) continue;
      if (masked !== p.resource) next = { ...next, resource: masked };
    }
    if (p.part !== undefined) next = { ...next, part: maskParameters(p.part) };
    out.push(next);
  }
  return out;
}

// Copies only what it changes: the input, possibly a cached or shared object, is never mutated.
function maskBlinded<T extends Resource>(resource: T): T | undefined {
  if (isArmRevealing(resource)) return undefined;
  let out: Resource = resource;
  if (out.resourceType === 'ResearchSubject' && ('assignedArm' in out || 'actualArm' in out)) {
    const { assignedArm: _assigned, actualArm: _actual, ...rest } = out;
    out = rest;
  }
  if ('text' in out) {
    const { text: _narrative, ...rest } = out as Resource & { text?: unknown };
    out = rest as Resource;
  }
  if (out.resourceType === 'Bundle' && out.entry !== undefined) {
    const perRequest = out.type === 'batch-response' || out.type === 'transaction-response';
    out = { ...out, entry: maskEntries(out.entry, perRequest) };
  }
  if (out.resourceType === 'Parameters' && out.parameter !== undefined) {
    out = { ...out, parameter: maskParameters(out.parameter) } as Parameters;
  }
  const contained = (out as { contained?: Resource[] }).contained;
  if (contained !== undefined) {
    const kept = contained.flatMap((c) => {
      const m = maskBlinded(c);
      return m === undefined ? [] : [m];
    });
    out = { ...out, contained: kept } as Resource;
  }
  return out as T;
}

/** The resource as this caller may see it, or undefined when it must be hidden altogether. */
export function maskForAccess<T extends Resource>(resource: T, access: AccessContext): T | undefined {
  return isBlinded(access) ? maskBlinded(resource) : resource;
}

/**
 * Masks every entry's resource and drops the hidden entries; the rest of the Bundle (type, total,
 * links) is left as it is. Undefined only when the Bundle itself is labelled arm-revealing.
 */
export function maskBundle<B extends Bundle>(bundle: B, access: AccessContext): B | undefined {
  return maskForAccess(bundle, access);
}

type SearchParamsInput = URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

function entriesOf(params: SearchParamsInput): [string, string][] {
  if (params instanceof URLSearchParams) return [...params.entries()];
  return Object.entries(params).flatMap(([k, v]) =>
    v === undefined
      ? []
      : typeof v === 'string'
        ? [[k, v] as [string, string]]
        : v.map((x) => [k, x] as [string, string]),
  );
}

/** Parameters that can filter on data the caller cannot see (reverse chains, free-form filters). */
const OPAQUE_PARAMS = ['_has', '_filter', '_query', '_content', '_text'];
const REVEALING_VALUES = [ARM_REVEALING_SECURITY_LABEL.code];

/**
 * Refuses (403) searches by a blinded caller that could sort, filter or count by arm: a hidden
 * result still counts in Bundle.total and `_summary=count`, so the query itself must not be able
 * to single out arm-revealing data. Resources that do come back are masked separately.
 */
export function assertQueryAllowed(resourceType: string, searchParams: SearchParamsInput, access: AccessContext): void {
  if (!isBlinded(access)) return;
  const refuse = (what: string): never => {
    throw new OperationOutcomeError(
      forbidden(`${what} is not available to blinded outcome assessors (search on ${resourceType})`),
    );
  };
  const entries = entriesOf(searchParams);
  const hasCode = entries.some(([name]) => CODE_PARAMS.has(name.toLowerCase().split(':')[0] ?? ''));
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    const base = lower.split(':')[0] ?? '';
    if (lower.includes('arm')) refuse(`Search parameter ${name}`);
    if (OPAQUE_PARAMS.some((p) => base === p)) refuse(`Search parameter ${name}`);
    if (base === '_sort' && value.toLowerCase().includes('arm')) refuse(`Sorting by ${value}`);
    if (REVEALING_VALUES.some((v) => value.includes(v))) refuse(`Searching for ${value}`);
    // Filtering or sorting on values across all codes would single out hidden drug levels (a
    // trough above 10 ng/mL means the regular-dose arm) through counts and page sizes.
    const byValue = VALUE_PARAM.test(base) || (base === '_sort' && value.toLowerCase().includes('value'));
    if (byValue && !hasCode) refuse(`Searching or sorting by value without a code (${name})`);
  }
}

const CODE_PARAMS: ReadonlySet<string> = new Set(['code', 'combo-code']);
const VALUE_PARAM = /^(component-|combo-)?value-/;

/**
 * The same rule as isArmRevealing, as search criteria: the store leaves labelled resources out of
 * a blinded caller's matches, so hidden resources neither appear nor count in Bundle.total or page
 * sizes.
 */
export function blindedSearchExclusions(_resourceType: string): { hideAll: boolean; exclude: [string, string][] } {
  return {
    hideAll: false,
    exclude: [['_security', `${ARM_REVEALING_SECURITY_LABEL.system}|${ARM_REVEALING_SECURITY_LABEL.code}`]],
  };
}
