/**
 * Relabels stored resources when what decides the arm-revealing label has changed (issue 17): a
 * study's armRevealing declaration, or a ConceptMap that now maps a site's local code to an
 * arm-revealing measure. The label is decided at ingest (arm-revealing.ts), so data stored under the
 * old declarations keeps the old decision until this runs; it runs at start-up and after a mapping
 * reload, and does nothing when the fingerprint stored with the labels (migration 0057) is current.
 *
 * Work goes one keyset window of one type per transaction, each under an advisory lock that also
 * guards the progress row, so instances starting together share the windows (none is done twice)
 * and a run stopped halfway resumes where it was. Labels are only added, never removed: a resource
 * hidden from outcome assessors under an older declaration stays hidden (fail closed); lifting a
 * label is an operator's decision.
 */

import type { DiagnosticReport, Resource } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { extractIndexRows } from '../fhir/search/index-values.ts';
import {
  labelledAmong,
  lockVersionWindow,
  readArmLabelState,
  rewriteVersionContent,
  tryRelabelLock,
  writeArmLabelState,
} from '../store/arm-label-store.ts';
import { expireAllJobs } from '../store/bulk-export-store.ts';
import type { Db, Queryable } from '../store/db.ts';
import { addArmRevealingLabel, hasLabel, revealsArm } from './arm-revealing.ts';
import type { RoutingTable } from './routing-table.ts';

/**
 * The types whose label the ingest decides from the declarations, results before the reports that
 * list them (a report listing a newly labelled result is labelled in the same run).
 */
export const RELABEL_TYPES: readonly string[] = [
  'Observation',
  'DiagnosticReport',
  'QuestionnaireResponse',
  'AdverseEvent',
  'Flag',
  'Medication',
  'MedicationRequest',
  'MedicationStatement',
  'MedicationAdministration',
  'MedicationDispense',
];

export interface RelabelOptions {
  /** Resources per window (one transaction each). */
  batchSize?: number;
  /** How long to wait before looking again while another instance holds the lock. */
  waitMs?: number;
  logger?: { info(msg: string, fields?: Record<string, unknown>): void };
}

export interface RelabelResult {
  /** Versions labelled by this call (another instance may have labelled others). */
  labelled: number;
  /** Windows this call processed. */
  windows: number;
}

/** Type/id of a reference, relative or absolute. */
function refKey(reference: string): { resourceType: string; id: string } | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m ? { resourceType: m[1] as string, id: m[2] as string } : undefined;
}

async function relabelWindow(
  tx: Queryable,
  table: RoutingTable,
  baseUrl: string,
  resourceType: string,
  versions: Awaited<ReturnType<typeof lockVersionWindow>>['versions'],
): Promise<number> {
  const parsed = versions.flatMap((v) => {
    if (v.content === null) return [];
    const resource = JSON.parse(v.content) as Resource;
    return hasLabel(resource) ? [] : [{ version: v, resource }];
  });
  // A report reveals the arm when it lists a result that does (labelled earlier in this run or before).
  let listed = new Set<string>();
  if (resourceType === 'DiagnosticReport') {
    const refs = parsed.flatMap(({ resource }) =>
      ((resource as DiagnosticReport).result ?? []).flatMap((r) => {
        const k = r.reference ? refKey(r.reference) : undefined;
        return k ? [k] : [];
      }),
    );
    listed = await labelledAmong(tx, refs, ARM_REVEALING_SECURITY_LABEL);
  }
  let labelled = 0;
  for (const { version, resource } of parsed) {
    const listsRevealing =
      resourceType === 'DiagnosticReport' &&
      ((resource as DiagnosticReport).result ?? []).some((r) => {
        const k = r.reference ? refKey(r.reference) : undefined;
        return k !== undefined && listed.has(`${k.resourceType}/${k.id}`);
      });
    if (!listsRevealing && !revealsArm(resource, table)) continue;
    const next = addArmRevealingLabel(resource);
    await rewriteVersionContent(tx, resourceType, version, JSON.stringify(next), extractIndexRows(next, baseUrl));
    labelled++;
  }
  return labelled;
}

/**
 * Brings the labels of stored resources up to the declarations `table` was built from; returns when
 * every window is done (by this instance or another). A no-op after the first call for a fingerprint.
 */
export async function relabelStored(
  db: Db,
  table: RoutingTable,
  baseUrl: string,
  options: RelabelOptions = {},
): Promise<RelabelResult> {
  const batchSize = options.batchSize ?? 500;
  const waitMs = options.waitMs ?? 250;
  const fingerprint = table.armLabelFingerprint;
  const result: RelabelResult = { labelled: 0, windows: 0 };
  for (;;) {
    const step = await db.transaction(async (tx): Promise<'busy' | 'done' | 'more'> => {
      if (!(await tryRelabelLock(tx))) return 'busy';
      const state = await readArmLabelState(tx);
      if (state?.fingerprint === fingerprint && state.nextType === null) return 'done';
      const resume =
        state?.fingerprint === fingerprint && state.nextType !== null && RELABEL_TYPES.includes(state.nextType);
      if (state?.fingerprint !== fingerprint && state !== undefined) {
        options.logger?.info('relabelling stored resources: the arm-revealing declarations changed');
      }
      if (state?.fingerprint !== fingerprint) {
        // Export files were masked by the old labels (and made before any label, on the first run
        // after an upgrade): a blinded client's file could hold what is now arm-revealing.
        const expired = await expireAllJobs(tx);
        if (expired > 0)
          options.logger?.info('bulk exports expired: made under other arm-revealing labels', { expired });
      }
      const type = resume ? (state.nextType as string) : (RELABEL_TYPES[0] as string);
      const after = resume ? (state.nextSeq ?? '0') : '0';
      const window = await lockVersionWindow(tx, type, after, batchSize);
      result.labelled += await relabelWindow(tx, table, baseUrl, type, window.versions);
      result.windows++;
      const typeDone = window.count < batchSize;
      const following = RELABEL_TYPES[RELABEL_TYPES.indexOf(type) + 1];
      await writeArmLabelState(tx, {
        fingerprint,
        nextType: typeDone ? (following ?? null) : type,
        nextSeq: typeDone ? (following ? '0' : null) : (window.lastSeq ?? after),
      });
      return 'more';
    });
    if (step === 'done') break;
    if (step === 'busy') await new Promise((r) => setTimeout(r, waitMs));
  }
  if (result.labelled > 0) options.logger?.info('stored resources relabelled', { ...result });
  return result;
}
