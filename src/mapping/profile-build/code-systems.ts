/**
 * The CodeSystems the trial records are coded with, generated from the study definitions so that
 * every code a record carries resolves to a published definition in profiles/.
 */
import type { CodeSystem } from '@medplum/fhirtypes';
import { outcomeCodes } from '../outcome-codes.ts';
import type { StudyDefinition } from '../study-definition.ts';

const PROJECT_BASE = 'https://khe-trial.example.org/fhir';

function codeSystem(id: string, title: string, description: string, concept: CodeSystem['concept']): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id,
    url: `${PROJECT_BASE}/CodeSystem/${id}`,
    version: '0.1.0',
    name: id
      .split('-')
      .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
      .join(''),
    title,
    status: 'draft',
    description,
    caseSensitive: true,
    content: 'complete',
    concept,
  };
}

export function buildCodeSystems(studies: readonly StudyDefinition[]): CodeSystem[] {
  const measures = new Map<string, string>();
  const visits = new Map<string, string>();
  for (const s of studies) {
    for (const m of s.measures) measures.set(m.id, m.display);
    for (const v of s.visits) visits.set(v.id, v.label);
  }
  visits.set('unscheduled', 'Outside every visit window');
  // Generated from every study's declared outcomes; a code two studies share is published once.
  const codes = studies.flatMap((s) => outcomeCodes(s));
  return [
    codeSystem(
      'trial-measure',
      'Trial measures',
      'The measures the studies served by this adapter collect (study.json measures).',
      [...measures].map(([code, display]) => ({ code, display })),
    ),
    codeSystem(
      'trial-visit',
      'Trial visits',
      'Visits (timepoints) of the studies served by this adapter, and unscheduled for values outside every window.',
      [...visits].map(([code, display]) => ({ code, display })),
    ),
    codeSystem(
      'trial-outcomes',
      'Trial outcomes',
      'Outcomes the adapter computes from trial records, as each study.json declares them, with the categories coded outcomes take.',
      codes
        .flatMap((c) => [
          { code: c.code, display: c.display },
          ...(c.categories ?? [])
            .filter((k) => !codes.some((o) => o.code === k.code))
            .map((k) => ({ code: k.code, display: k.display })),
        ])
        .filter((c, i, all) => all.findIndex((x) => x.code === c.code) === i),
    ),
    codeSystem(
      'ctcae-attribution',
      'CTCAE attribution (causality)',
      'NCI CTCAE attribution of an adverse event to the study drug, 5 levels.',
      [
        { code: 'unrelated', display: '1 Unrelated' },
        { code: 'unlikely', display: '2 Unlikely' },
        { code: 'possible', display: '3 Possible' },
        { code: 'probable', display: '4 Probable' },
        { code: 'definite', display: '5 Definite' },
      ],
    ),
    codeSystem('trial-flag', 'Trial safety flags', 'Flags the adapter raises for clinicians.', [
      { code: 'trough-out-of-target', display: 'Sirolimus trough out of target' },
    ]),
    codeSystem('record-kind', 'Kinds of record the adapter writes', 'Tells derived records apart from received ones.', [
      { code: 'trial-record', display: 'Trial record derived from a received result' },
      { code: 'outcome', display: 'Outcome computed by the adapter' },
    ]),
  ];
}
