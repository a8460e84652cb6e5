/**
 * The flat analysis export over HTTP: `GET /research/flat-export.csv` streams the table subject
 * batch by subject batch (memory bounded by the batch), `GET /research/flat-export/dictionary`
 * (JSON, or CSV with `.csv`) describes its columns. For the research, outcome-assessor and admin
 * roles whose scopes allow searching ResearchSubject and Observation; columns that reveal the arm
 * (for assessors) or come from forms or adverse events the caller may not read are masked.
 */
import type { ResearchSubject } from '@medplum/fhirtypes';
import { type RequestHandler, type Response, Router } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { requireAccess } from '../auth/authorize.ts';
import { isBlinded } from '../auth/masking.ts';
import { accessAllows } from '../auth/roles.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import type { Logger } from '../shared/logger.ts';
import { badRequest, fail, forbidden, notFound } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { readSummaryBatch } from '../store/outcome-store.ts';
import { readMany } from '../store/resource-store.ts';
import { csvLine, type FlatSubject, flatColumns, flatRows, maskedColumns } from './flat-export.ts';

export interface FlatExportDeps {
  db: Db;
  studies: readonly StudyDefinition[];
  authenticate: RequestHandler;
  logger: Logger;
  /** Subjects per database round trip. */
  batchSize?: number;
}

const ROLES = new Set(['research', 'outcome-assessor', 'admin']);
/** What every row is derived from: the caller must be allowed to search each. */
const SOURCE_TYPES = ['ResearchSubject', 'Observation'] as const;

function access(res: Response): AccessContext {
  const a = res.locals.access as AccessContext | undefined;
  if (!a || !ROLES.has(a.role)) fail(forbidden('The flat analysis export is for the research and admin roles'));
  for (const t of SOURCE_TYPES) requireAccess(a, t, 'search');
  return a;
}

function pickStudy(studies: readonly StudyDefinition[], param: unknown): StudyDefinition {
  if (param !== undefined && typeof param !== 'string') fail(badRequest('study must be given once', 'study'));
  if (param === undefined) {
    if (studies.length === 1) return studies[0] as StudyDefinition;
    fail(badRequest(`Several studies are served: name one with ?study= (${studies.map((s) => s.id).join(', ')})`));
  }
  const study = studies.find((s) => s.id === param);
  if (!study) fail(notFound(`No study ${param}`));
  return study;
}

function subjectOf(id: string, content: string | undefined): FlatSubject {
  const rs = content ? (JSON.parse(content) as ResearchSubject) : undefined;
  return { id, identifier: rs?.identifier?.[0]?.value ?? '', status: rs?.status ?? '' };
}

export function createFlatExportRouter(deps: FlatExportDeps): Router {
  const router = Router();
  const batchSize = deps.batchSize ?? 500;

  router.get(
    ['/research/flat-export/dictionary', '/research/flat-export/dictionary.csv'],
    deps.authenticate,
    (req, res) => {
      access(res);
      const study = pickStudy(deps.studies, req.query.study);
      const columns = flatColumns(study);
      if (req.path.endsWith('.csv')) {
        res.type('text/csv; charset=utf-8');
        let out = csvLine(['column', 'level', 'description', 'unit', 'values', 'source', 'masked_for_assessors']);
        for (const c of columns) {
          out += csvLine([
            c.name,
            c.level,
            c.description,
            c.unit ?? '',
            (c.values ?? []).join('|'),
            c.source,
            c.armRevealing ? 'yes' : 'no',
          ]);
        }
        res.send(out);
        return;
      }
      res.json({
        study: study.id,
        rows: 'one per ResearchSubject per scheduled visit; subject-level columns repeat on each of the subject’s rows',
        empty:
          'no value; "not-evaluable": the outcome could not be computed (see its Observation for the reason); "masked": hidden from this caller (arm-revealing for outcome assessors, or from a resource type the caller may not read)',
        columns,
      });
    },
  );

  router.get('/research/flat-export.csv', deps.authenticate, async (req, res) => {
    const caller = access(res);
    const study = pickStudy(deps.studies, req.query.study);
    const masked = maskedColumns(study, isBlinded(caller), (type) => accessAllows(caller, type, 'search'));
    const columns = flatColumns(study);
    res.status(200);
    res.type('text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="${study.id}-flat-export.csv"`);
    res.write(csvLine(columns.map((c) => c.name)));
    let after = '';
    try {
      for (;;) {
        const rows = await readSummaryBatch(deps.db, study.id, after, batchSize);
        if (rows.length === 0) break;
        const bySubject = new Map<string, typeof rows>();
        for (const r of rows) {
          const list = bySubject.get(r.researchSubjectId) ?? [];
          list.push(r);
          bySubject.set(r.researchSubjectId, list);
        }
        const ids = [...bySubject.keys()];
        const subjects = new Map(
          (
            await readMany(
              deps.db,
              ids.map((id) => ({ resourceType: 'ResearchSubject', id })),
            )
          ).map((s) => [s.id, s.content]),
        );
        let chunk = '';
        for (const id of ids) {
          const own = bySubject.get(id) ?? [];
          for (const line of flatRows(study, subjectOf(id, subjects.get(id)), own, masked)) chunk += csvLine(line);
        }
        after = ids[ids.length - 1] as string;
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
        if (res.destroyed) return;
      }
      res.end();
    } catch (err) {
      // Headers are gone: a truncated CSV must not look complete, so the connection is cut.
      deps.logger.error('flat export failed mid-stream', { error: err instanceof Error ? err.message : String(err) });
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  });
  return router;
}
