/**
 * Seeds many resources straight into the store with set-based SQL (written for tests and benches):
 * 100,000 Observations in seconds instead of 100,000 HTTP calls. The rows have the shape the write
 * path gives them (current row, meta, index rows for subject, patient, code and date, the code
 * rows carrying the combined index's columns), so search and export see them as they see any other
 * Observation.
 */
import type { Queryable } from '../../src/store/db.ts';

/** About 800 bytes of JSON per Observation, like a lab result with its reference range. */
const TEMPLATE = JSON.stringify({
  resourceType: 'Observation',
  id: 'ID',
  meta: { versionId: '1', lastUpdated: 'TS' },
  identifier: [{ system: 'urn:oid:1.2.156.112606.1.2.1.3.lab', value: 'ID' }],
  status: 'final',
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'laboratory',
          display: 'Laboratory',
        },
      ],
    },
  ],
  code: {
    coding: [{ system: 'http://loinc.org', code: 'CODE', display: 'Platelets [#/volume] in Blood' }],
    text: 'PLT',
  },
  subject: { reference: 'Patient/PATIENT' },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  issued: '2022-02-10T10:30:00+08:00',
  valueQuantity: { value: 123, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  interpretation: [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'N' }] },
  ],
  referenceRange: [
    {
      low: { value: 100, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
      high: { value: 450, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
    },
  ],
  note: [{ text: 'Seeded result written for the tests and benchmarks; not a real patient.' }],
});

export interface SeedOptions {
  /** Id prefix, e.g. "seed" → seed-1 … seed-N. */
  prefix: string;
  count: number;
  /** Patients the results are spread over (Patient/<prefix>-p<k>). */
  patients: number;
  /** LOINC codes cycled over the results. */
  codes?: string[] | undefined;
  batch?: number | undefined;
}

export async function seedObservations(q: Queryable, o: SeedOptions): Promise<void> {
  const codes = o.codes ?? ['777-3', '3255-7', '718-7', '6690-2'];
  const batch = o.batch ?? 50_000;
  const ts = new Date().toISOString();
  for (let start = 1; start <= o.count; start += batch) {
    const end = Math.min(o.count, start + batch - 1);
    const rows = `SELECT g, $1::text || '-' || g AS id, $1::text || '-p' || (g % $4::int) AS patient,
                         ($5::text[])[1 + (g / $4::int) % array_length($5::text[], 1)] AS code
                  FROM generate_series($2::int, $3::int) g`;
    const params = [o.prefix, start, end, o.patients, codes];
    await q.query(
      `INSERT INTO resources (resource_type, id, version_id, last_updated, content, method)
       SELECT 'Observation', s.id, 1, $6::timestamptz,
              replace(replace(replace(replace(replace($7::text, '"ID"', to_json(s.id)::text), 'TS', $6::text),
                'PATIENT', s.patient), 'CODE', s.code), '"value":123', '"value":' || (50 + s.g % 400)),
              'POST'
       FROM (${rows}) s`,
      [...params, ts, TEMPLATE],
    );
    await q.query(
      `INSERT INTO sp_reference (resource_type, id, param, target)
       SELECT 'Observation', s.id, 'subject', 'Patient/' || s.patient FROM (${rows}) s`,
      params,
    );
    await q.query(
      `INSERT INTO sp_token (resource_type, id, param, system, code)
       SELECT 'Observation', s.id, 'status', NULL, 'final' FROM (${rows}) s`,
      params,
    );
    // The code rows carry the combined index's columns (migration 0072), as the write path gives them.
    await q.query(
      `INSERT INTO sp_token (resource_type, id, param, system, code, subject, date_lo, date_hi)
       SELECT 'Observation', s.id, 'code', 'http://loinc.org', s.code, 'Patient/' || s.patient, s.d, s.d + interval '1 second'
       FROM (SELECT s.*, timestamptz '2022-01-01T00:00:00Z' + (s.g % 365) * interval '1 day' AS d FROM (${rows}) s) s`,
      params,
    );
    await q.query(
      `INSERT INTO sp_date (resource_type, id, param, lo, hi)
       SELECT 'Observation', s.id, 'date', d, d + interval '1 second'
       FROM (SELECT s.*, timestamptz '2022-01-01T00:00:00Z' + (s.g % 365) * interval '1 day' AS d FROM (${rows}) s) s`,
      params,
    );
  }
}

/**
 * Rewrites the combined index's columns of every Observation's code rows (migrations 0072, 0074) from its
 * index rows, as the migration's backfill does: for tests that edit index rows by hand.
 */
export async function rebuildComboRows(q: Queryable): Promise<void> {
  await q.query(
    `UPDATE sp_token SET subject = NULL, date_lo = NULL, date_hi = NULL, date_many = NULL
     WHERE resource_type = 'Observation' AND date_lo IS NOT NULL`,
  );
  // Every code row of a current Observation carries its date envelope and whether it has several
  // dates (migration 0074), the subject where it has one.
  await q.query(
    `UPDATE sp_token k
        SET subject = g.target, date_lo = coalesce(d.lo, 'infinity'), date_hi = coalesce(d.hi, '-infinity'),
            date_many = CASE WHEN d.n > 1 THEN true END
       FROM resources r
       LEFT JOIN sp_reference g ON g.resource_type = r.resource_type AND g.id = r.id AND g.param = 'subject'
       LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi, count(*) AS n FROM sp_date x
                  WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = r.id
      WHERE k.resource_type = 'Observation' AND k.param = 'code'
        AND r.resource_type = k.resource_type AND r.id = k.id AND NOT r.deleted`,
  );
}
