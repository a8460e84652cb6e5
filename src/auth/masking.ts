/**
 * The one place that enforces outcome-assessor blinding (NCT04775173 is single-masked: outcome
 * assessors must not learn a participant's arm). Every resource sent to a blinded caller goes
 * through maskForAccess (Bundles through maskBundle), and every search they run through
 * assertQueryAllowed, so that neither the results nor the match counts reveal an arm.
 *
 * What reveals an arm, hence what a blinded caller never sees:
 * - ResearchSubject.assignedArm and .actualArm (removed; the rest of the subject stays visible);
 * - any resource labelled ARM_REVEALING_SECURITY_LABEL in meta.security (per-arm Groups and
 *   MeasureReports, and anything else the producers mark);
 * - sirolimus blood levels (the arms are defined by trough target, 5-10 vs 10-15 ng/mL) and
 *   sirolimus dosing resources, even when nobody labelled them.
 *
 * Hidden resources still count in Bundle.total and still take room in pages, because masking
 * happens after the store has searched. assertQueryAllowed therefore refuses the searches that
 * could single them out (arm parameters, reverse chains, revealing codes, value filters without a
 * code); fully closing the count channel needs the store to exclude them from blinded searches.
 */
import type {
  Bundle,
  BundleEntry,
  Coding,
  Observation,
  Parameters,
  ParametersParameter,
  Resource,
} from '@medplum/fhirtypes';
import { forbidden, OperationOutcomeError } from '../fhir/outcomes.ts';
import type { AccessContext } from './access-context.ts';

export const ARM_REVEALING_SECURITY_LABEL = {
  system: 'https://khe-trial.example.org/fhir/CodeSystem/security',
  code: 'arm-revealing',
} as const;

/** Sirolimus whole-blood level (29247-4) and trough (115766-8): the trough target defines the arm. */
export const ARM_REVEALING_OBSERVATION_CODES: readonly Readonly<Coding>[] = [
  { system: 'http://loinc.org', code: '29247-4' },
  { system: 'http://loinc.org', code: '115766-8' },
];

/** Doses reveal the arm as surely as levels do. */
const ARM_REVEALING_TYPES: ReadonlySet<string> = new Set([
  'MedicationRequest',
  'MedicationAdministration',
  'MedicationStatement',
  'MedicationDispense',
]);

export function isBlinded(access: AccessContext | undefined): boolean {
  return access?.role === 'outcome-assessor';
}

function sameCoding(a: Coding, b: Readonly<Coding>): boolean {
  return a.system === b.system && a.code === b.code;
}

/** Whether a blinded caller must not see this resource at all. */
export function isArmRevealing(resource: Resource): boolean {
  if (resource.meta?.security?.some((c) => sameCoding(c, ARM_REVEALING_SECURITY_LABEL))) return true;
  if (ARM_REVEALING_TYPES.has(resource.resourceType)) return true;
  if (resource.resourceType === 'Observation') {
    const codings = (resource as Observation).code?.coding ?? [];
    return codings.some((c) => ARM_REVEALING_OBSERVATION_CODES.some((r) => sameCoding(c, r)));
  }
  return false;
}

function maskEntries(entries: BundleEntry[]): BundleEntry[] {
  const out: BundleEntry[] = [];
  for (const entry of entries) {
    if (entry.resource === undefined) {
      out.push(entry);
      continue;
    }
    const masked = maskBlinded(entry.resource);
    if (masked === undefined) continue;
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
  if (out.resourceType === 'Bundle' && out.entry !== undefined) out = { ...out, entry: maskEntries(out.entry) };
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
const REVEALING_VALUES = [
  ARM_REVEALING_SECURITY_LABEL.code,
  ...ARM_REVEALING_OBSERVATION_CODES.map((c) => c.code as string),
];

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
 * The same rule as isArmRevealing, as search criteria: the store leaves these out of a blinded
 * caller's matches, so hidden resources neither appear nor count in Bundle.total or page sizes.
 * Types that are hidden whole answer with no matches.
 */
export function blindedSearchExclusions(resourceType: string): { hideAll: boolean; exclude: [string, string][] } {
  if (ARM_REVEALING_TYPES.has(resourceType)) return { hideAll: true, exclude: [] };
  const exclude: [string, string][] = [
    ['_security', `${ARM_REVEALING_SECURITY_LABEL.system}|${ARM_REVEALING_SECURITY_LABEL.code}`],
  ];
  if (resourceType === 'Observation') {
    exclude.push(['code', ARM_REVEALING_OBSERVATION_CODES.map((c) => `${c.system}|${c.code}`).join(',')]);
  }
  return { hideAll: false, exclude };
}
