/**
 * The FHIR Measure of a study, generated from its declared outcomes: one group per outcome code
 * the MeasureReports count (a value per subject and visit), in declaration order, the primary ones
 * said so, each citing the source its declaration names; plus the adverse events per term when the
 * study declares an adverse-event summary. Written at start-up like the ResearchStudy; deterministic,
 * so a restart writes nothing new. The per-arm MeasureReports cite it and take their groups from it.
 */
import type { Measure, MeasureGroup } from '@medplum/fhirtypes';
import { OUTCOME_SYSTEM, outcomeCodes } from '../mapping/outcome-codes.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { PROJECT_BASE } from '../mapping/trial-extensions.ts';

/** The kind of the summary rows the adverse-event summary adds: events per MedDRA term. */
export const AE_TERM_KIND = 'ae-term';

export const MEASURE_POPULATION = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'measure-population' }],
};

export interface MeasureGroupDef {
  /** The outcome code (the MeasureReport group's code and the summary rows' kind). */
  code: string;
  display: string;
  /** The declared outcome it comes from. */
  outcome: string;
  primary: boolean;
  source: string;
  unit: string | undefined;
  categories: readonly { code: string; display: string }[] | undefined;
}

export function measureId(study: Pick<StudyDefinition, 'id' | 'measureId'>): string {
  return study.measureId ?? `${study.id}-outcomes`;
}

export function measureUrl(study: Pick<StudyDefinition, 'id' | 'measureId'>): string {
  return `${PROJECT_BASE}/Measure/${measureId(study)}`;
}

const groupCache = new WeakMap<StudyDefinition, MeasureGroupDef[]>();

/** The groups of the study's Measure, from its declared outcomes, in declaration order. */
export function measureGroups(study: StudyDefinition): MeasureGroupDef[] {
  const cached = groupCache.get(study);
  if (cached) return cached;
  const groups: MeasureGroupDef[] = [];
  for (const def of outcomeCodes(study)) {
    // Per-trough values and components are not one value per subject and visit: nothing to count.
    if (def.shape !== undefined || groups.some((g) => g.code === def.code)) continue;
    const o = study.outcomes.find((x) => x.id === def.outcome);
    groups.push({
      code: def.code,
      display: def.display,
      outcome: def.outcome,
      primary: o?.primary ?? false,
      source: o?.source ?? '',
      unit: def.unit,
      categories: def.categories,
    });
    if (o?.rule === 'ae-summary' && !groups.some((g) => g.code === AE_TERM_KIND)) {
      groups.push({
        code: AE_TERM_KIND,
        display: 'Adverse events per term',
        outcome: o.id,
        primary: false,
        source: o.source,
        unit: 'events',
        categories: undefined,
      });
    }
  }
  groupCache.set(study, groups);
  return groups;
}

function groupDescription(g: MeasureGroupDef): string {
  const what =
    g.code === AE_TERM_KIND
      ? 'Subjects and events per adverse event term.'
      : g.categories
        ? `Subjects per category: ${g.categories.map((c) => c.code).join(', ')}, or not-evaluable.`
        : `Subjects with a value, and the median${g.unit ? ` (${g.unit})` : ''}.`;
  return `${g.primary ? 'Primary outcome. ' : ''}${what} Source: ${g.source}`;
}

export function toMeasure(study: StudyDefinition): Measure {
  const groups = measureGroups(study);
  const sources = [...new Set(groups.map((g) => g.source).filter((s) => s !== ''))];
  return {
    resourceType: 'Measure',
    id: measureId(study),
    url: measureUrl(study),
    version: '0.1.0',
    name: `${study.identifier.value.replace(/[^A-Za-z0-9]/g, '')}Outcomes`,
    title: `Outcomes of ${study.shortName ?? study.title} (${study.identifier.value}), per arm and visit`,
    status: 'active',
    description: `The outcomes study.json declares for ${study.identifier.value}, counted per arm and visit over the ResearchSubjects of each arm (one MeasureReport of type summary per arm and visit). Primary: ${
      groups
        .filter((g) => g.primary)
        .map((g) => g.code)
        .join(', ') || 'none declared'
    }.`,
    relatedArtifact: sources.map((citation) => ({ type: 'citation' as const, citation })),
    scoring: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-scoring', code: 'cohort' }],
    },
    group: groups.map(
      (g): MeasureGroup => ({
        code: { coding: [{ system: OUTCOME_SYSTEM, code: g.code, display: g.display }], text: g.display },
        description: groupDescription(g),
        population: [
          {
            code: MEASURE_POPULATION,
            description: 'ResearchSubjects of the arm with this outcome at the visit',
            // Which outcome Observations count (ae-term: the subject's adverse events).
            criteria: {
              language: 'text/fhirpath',
              expression:
                g.code === AE_TERM_KIND
                  ? "resourceType = 'AdverseEvent'"
                  : `code.coding.where(system = '${OUTCOME_SYSTEM}' and code = '${g.code}').exists()`,
            },
          },
        ],
        ...(g.categories || g.code === AE_TERM_KIND
          ? {
              stratifier: [
                {
                  code: { text: g.code === AE_TERM_KIND ? 'adverse event term' : 'category' },
                  description:
                    g.code === AE_TERM_KIND
                      ? 'per term: subjects (population) and events (score)'
                      : 'per category of the outcome, and not-evaluable',
                },
              ],
            }
          : {}),
      }),
    ),
  };
}
