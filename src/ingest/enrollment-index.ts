/**
 * Who is in a trial, held in memory so that routing a hospital-wide feed is a lookup, not a query.
 * It is never trusted stale: before each routing decision the caller passes the database's
 * enrollment version (one tiny read per request or Bundle), and the index reloads when it moved.
 * On a store only this process writes (src/store/sole-writer.ts) the version is the one kept in
 * process, which every enrollment write moves: no read at all.
 */
import { COLLECTING_STATUSES, type Enrollment } from '../records/enrollment.ts';
import type { Queryable } from '../store/db.ts';

interface SubjectRow {
  id: string;
  study: string | null;
  individual: string | null;
  status: string | null;
  arm: string | null;
  start: string | null;
}

export class EnrollmentIndex {
  #version = '-1';
  #byPatient = new Map<string, Enrollment[]>();
  #patientByIdentifier = new Map<string, string>();
  #loading: Promise<void> | undefined;

  get version(): string {
    return this.#version;
  }

  /** Reloads if the database's enrollment version differs from the one loaded. */
  async refresh(q: Queryable): Promise<void> {
    if (q.soleWriter) return this.refreshTo(q, q.soleWriter.enrollmentVersion);
    const r = await q.query<{ version: string }>('SELECT version::text AS version FROM enrollment_state WHERE id = 1');
    await this.refreshTo(q, r.rows[0]?.version ?? '0');
  }

  /** The same with the database's version read already (src/store/gate-probe.ts). */
  async refreshTo(q: Queryable, version: string): Promise<void> {
    if (version === this.#version) return;
    // Concurrent requests share one reload.
    this.#loading ??= this.#load(q, version).finally(() => {
      this.#loading = undefined;
    });
    await this.#loading;
    if (this.#version !== version) await this.refresh(q);
  }

  async #load(q: Queryable, version: string): Promise<void> {
    const subjects = await q.query<SubjectRow>(
      `SELECT r.id,
              (SELECT x.target FROM sp_reference x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'study' LIMIT 1) AS study,
              (SELECT x.target FROM sp_reference x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'individual' LIMIT 1) AS individual,
              (SELECT x.code FROM sp_token x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'status' LIMIT 1) AS status,
              (r.content::jsonb ->> 'assignedArm') AS arm,
              (r.content::jsonb -> 'period' ->> 'start') AS start
       FROM resources r
       WHERE r.resource_type = 'ResearchSubject' AND NOT r.deleted`,
    );
    const byPatient = new Map<string, Enrollment[]>();
    for (const s of subjects.rows) {
      if (!s.individual?.startsWith('Patient/') || !s.study?.startsWith('ResearchStudy/')) continue;
      if (!s.status || !COLLECTING_STATUSES.has(s.status)) continue;
      const patientId = s.individual.slice('Patient/'.length);
      const list = byPatient.get(patientId) ?? [];
      list.push({
        researchSubjectId: s.id,
        studyId: s.study.slice('ResearchStudy/'.length),
        patientId,
        status: s.status,
        assignedArm: s.arm ?? undefined,
        start: s.start ?? undefined,
      });
      byPatient.set(patientId, list);
    }
    const identifiers = await q.query<{ id: string; system: string | null; code: string }>(
      `SELECT id, system, code FROM sp_token
       WHERE resource_type = 'Patient' AND param = 'identifier' AND id = ANY($1::text[])`,
      [[...byPatient.keys()]],
    );
    const byIdentifier = new Map<string, string>();
    for (const i of identifiers.rows) byIdentifier.set(`${i.system ?? ''}|${i.code}`, i.id);
    this.#byPatient = byPatient;
    this.#patientByIdentifier = byIdentifier;
    this.#version = version;
  }

  /** Enrollments of a patient given as "Patient/id" (already normalised to this server). */
  byPatientReference(reference: string): readonly Enrollment[] {
    if (!reference.startsWith('Patient/')) return [];
    return this.#byPatient.get(reference.slice('Patient/'.length)) ?? [];
  }

  byPatientIdentifier(system: string | undefined, value: string): readonly Enrollment[] {
    const id = this.#patientByIdentifier.get(`${system ?? ''}|${value}`);
    return id ? (this.#byPatient.get(id) ?? []) : [];
  }

  get enrolledPatientCount(): number {
    return this.#byPatient.size;
  }
}
