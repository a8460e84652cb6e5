/**
 * What the relabel of stored resources (src/ingest/relabel.ts) reads and writes: its progress under a
 * fingerprint of the declarations (migration 0057), the advisory lock that lets one instance at a
 * time take a window, and the in-place rewrite of a version's content (and a current version's index
 * rows, which searches mask by) with no new version, as a reindex does.
 */
import type { Queryable } from './db.ts';
import { replaceIndexRows, type VersionWrite } from './resource-store.ts';

type IndexRows = NonNullable<VersionWrite['index']>;

/** Arbitrary constant shared by every instance: "khe-adapter arm-revealing relabel". */
const RELABEL_LOCK_KEY = 7_477_517_317;

export interface ArmLabelState {
  fingerprint: string;
  /** Where the next window starts; null once finished. */
  nextType: string | null;
  nextSeq: string | null;
}

export async function readArmLabelState(q: Queryable): Promise<ArmLabelState | undefined> {
  const r = await q.query<{ fingerprint: string; next_type: string | null; next_seq: string | null }>(
    'SELECT fingerprint, next_type, next_seq::text AS next_seq FROM arm_label_state WHERE id = 1',
  );
  const row = r.rows[0];
  return row ? { fingerprint: row.fingerprint, nextType: row.next_type, nextSeq: row.next_seq } : undefined;
}

export async function writeArmLabelState(q: Queryable, state: ArmLabelState): Promise<void> {
  await q.query(
    `INSERT INTO arm_label_state (id, fingerprint, next_type, next_seq) VALUES (1, $1, $2, $3::bigint)
     ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, next_type = excluded.next_type,
       next_seq = excluded.next_seq, updated_at = now()`,
    [state.fingerprint, state.nextType, state.nextSeq],
  );
}

/** Takes the relabel lock until the caller's transaction ends; false when another instance holds it. */
export async function tryRelabelLock(tx: Queryable): Promise<boolean> {
  const r = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [RELABEL_LOCK_KEY]);
  return r.rows[0]?.ok === true;
}

export interface StoredVersionText {
  id: string;
  versionId: number;
  /** Null for a deletion. */
  content: string | null;
  current: boolean;
}

/**
 * One keyset window of a type's resources (deleted ones included, their history may reveal), locked
 * until the caller's transaction ends, with every version of each: `seq` is where the next starts.
 */
export async function lockVersionWindow(
  tx: Queryable,
  resourceType: string,
  afterSeq: string,
  limit: number,
): Promise<{ versions: StoredVersionText[]; count: number; lastSeq: string | undefined }> {
  const current = await tx.query<{ seq: string; id: string; version_id: number; content: string | null }>(
    `SELECT created_seq::text AS seq, id, version_id, content FROM resources
     WHERE resource_type = $1 AND created_seq > $2::bigint
     ORDER BY created_seq LIMIT $3 FOR UPDATE`,
    [resourceType, afterSeq, limit],
  );
  const ids = current.rows.map((r) => r.id);
  const history =
    ids.length === 0
      ? { rows: [] }
      : await tx.query<{ id: string; version_id: number; content: string | null }>(
          `SELECT id, version_id, content FROM resource_history
           WHERE resource_type = $1 AND id = ANY($2::text[]) AND content IS NOT NULL`,
          [resourceType, ids],
        );
  return {
    versions: [
      ...current.rows.map((r) => ({ id: r.id, versionId: r.version_id, content: r.content, current: true })),
      ...history.rows.map((r) => ({ id: r.id, versionId: r.version_id, content: r.content, current: false })),
    ],
    count: current.rows.length,
    lastSeq: current.rows[current.rows.length - 1]?.seq,
  };
}

/** Rewrites one version's content in place; a current version's index rows with it. */
export async function rewriteVersionContent(
  tx: Queryable,
  resourceType: string,
  version: StoredVersionText,
  content: string,
  index: IndexRows,
): Promise<void> {
  if (version.current) {
    await tx.query('UPDATE resources SET content = $3 WHERE resource_type = $1 AND id = $2 AND version_id = $4', [
      resourceType,
      version.id,
      content,
      version.versionId,
    ]);
    await replaceIndexRows(tx, resourceType, version.id, index);
  } else {
    await tx.query(
      'UPDATE resource_history SET content = $3 WHERE resource_type = $1 AND id = $2 AND version_id = $4',
      [resourceType, version.id, content, version.versionId],
    );
  }
}

/** Of these references (Type/id), those whose current version carries the security label. */
export async function labelledAmong(
  q: Queryable,
  refs: readonly { resourceType: string; id: string }[],
  label: { system: string; code: string },
): Promise<Set<string>> {
  if (refs.length === 0) return new Set();
  const r = await q.query<{ resource_type: string; id: string }>(
    `SELECT r.resource_type, r.id FROM resources r
     JOIN unnest($1::text[], $2::text[]) AS x(t, i) ON r.resource_type = x.t AND r.id = x.i
     WHERE NOT r.deleted AND (r.content::jsonb -> 'meta' -> 'security') @> $3::jsonb`,
    [refs.map((x) => x.resourceType), refs.map((x) => x.id), JSON.stringify([label])],
  );
  return new Set(r.rows.map((row) => `${row.resource_type}/${row.id}`));
}
