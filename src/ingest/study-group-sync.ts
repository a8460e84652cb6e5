/**
 * Keeps the derived study and arm Groups (src/records/study-groups.ts) current, on read: before a
 * Group is read, searched or exported, the Groups are re-derived from the ResearchSubjects if the
 * enrollment version moved, under the enrollment row lock, and written as new versions where
 * membership changed. Deriving on read rather than on each enrollment write means no write path
 * changes and no lost update when subjects are enrolled concurrently through several instances:
 * the lock orders every derivation after the enrollments it must include.
 */
import type { Group, ResearchStudy, ResearchSubject } from '@medplum/fhirtypes';
import { putVersion } from '../fhir/interactions/write-version.ts';
import { deriveStudyGroups } from '../records/study-groups.ts';
import type { Db } from '../store/db.ts';
import { currentOfType, enrollmentVersion, lockEnrollment } from '../store/study-groups-store.ts';

function withoutVersionMeta(text: string): string {
  const r = JSON.parse(text) as Group;
  const { versionId: _v, lastUpdated: _l, ...meta } = r.meta ?? {};
  return JSON.stringify({ ...r, meta });
}

export class StudyGroupSync {
  readonly #db: Db;
  readonly #baseUrl: string;
  /** Enrollment version the Groups were last derived at (by this instance). */
  #derivedAt: string | undefined;
  #running: Promise<void> | undefined;

  constructor(db: Db, baseUrl: string) {
    this.#db = db;
    this.#baseUrl = baseUrl;
  }

  /** Concurrent callers on one instance share one derivation. */
  refresh(): Promise<void> {
    this.#running ??= this.#refresh().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #refresh(): Promise<void> {
    if ((await enrollmentVersion(this.#db)) === this.#derivedAt) return;
    this.#derivedAt = await this.#db.transaction(async (tx) => {
      const version = await lockEnrollment(tx);
      const studies = (await currentOfType(tx, 'ResearchStudy')).map(
        (r) => JSON.parse(r.content ?? '{}') as ResearchStudy,
      );
      const subjects = (await currentOfType(tx, 'ResearchSubject')).map(
        (r) => JSON.parse(r.content ?? '{}') as ResearchSubject,
      );
      const groups = deriveStudyGroups(studies, subjects);
      const stored = new Map(
        (
          await currentOfType(
            tx,
            'Group',
            groups.map((g) => g.id as string),
          )
        ).map((r) => [r.id, r]),
      );
      for (const g of groups) {
        const id = g.id as string;
        const current = stored.get(id);
        if (current?.content && withoutVersionMeta(current.content) === JSON.stringify(g)) continue;
        await putVersion(tx, this.#baseUrl, g, id, (current?.versionId ?? 0) + 1, current ? 'PUT' : 'POST');
      }
      return version;
    });
  }
}
