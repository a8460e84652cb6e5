/**
 * Real public data replayed as a hospital-wide feed: every Observation of the 21 Synthea patients
 * (samply/blaze Synthea v2.7, Apache-2.0) and of the FHIR R4 core examples (CC0) is pushed by the
 * EHR feed in batch Bundles, with two Synthea children enrolled. Only their results with study codes
 * may be kept; every other result is answered 202 and stored nowhere, and the counts add up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { CORPUS_DIR } from '../support/corpus.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const CORPUS = CORPUS_DIR;
const SYNTHEA = join(CORPUS, 'synthea', 'blaze-synthea-v2.7');
const EXAMPLES = join(CORPUS, 'fhir-examples', 'hl7-fhir-r4-core-examples', 'observation');
const MRN_SYSTEM = 'http://hospital.smarthealthit.org';
const ENROLLED = ['a8327210-6158-2be1-fb72-553a78a0ff37', '8a4c9c04-1524-9f1c-d65b-9b17e4520fef'];

interface FeedItem {
  observation: Observation;
  patient: string | undefined;
}

function syntheaFeed(): { items: FeedItem[]; patients: Map<string, Patient> } {
  const items: FeedItem[] = [];
  const patients = new Map<string, Patient>();
  for (const file of readdirSync(SYNTHEA).filter((f) => !f.startsWith('0-'))) {
    const bundle = JSON.parse(readFileSync(join(SYNTHEA, file), 'utf8')) as Bundle;
    for (const e of bundle.entry ?? []) {
      const r = e.resource;
      if (r?.resourceType === 'Patient') patients.set(r.id as string, r);
      if (r?.resourceType !== 'Observation') continue;
      const patient = r.subject?.reference?.replace('urn:uuid:', '');
      // As an interface engine sends it: the patient by MRN, not by the sender's internal link.
      const { id: _id, encounter: _enc, ...rest } = r;
      items.push({
        observation: { ...rest, subject: { identifier: { system: MRN_SYSTEM, value: patient } } },
        patient,
      });
    }
  }
  return { items, patients };
}

function examplesFeed(): FeedItem[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.startsWith('Observation-'))
    .map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as Observation)
    .map((o) => {
      const { id: _id, ...rest } = o;
      return { observation: rest as Observation, patient: undefined };
    });
}

describe('a hospital feed replayed from the public corpus', () => {
  let s: TestService;
  let items: FeedItem[];
  let studyCodes: Set<string>;
  beforeAll(async () => {
    s = await startTestService({ BODY_LIMIT: '20mb' });
    const synthea = syntheaFeed();
    items = [...synthea.items, ...examplesFeed()];
    const study = (await loadStudyDefinitions())[0];
    studyCodes = new Set(study?.measures.flatMap((m) => m.codes.map((c) => `${c.system}|${c.code}`)));
    for (const id of ENROLLED) {
      const p = synthea.patients.get(id) as Patient;
      expect((await s.call(`/fhir/Patient/${id}`, { method: 'PUT', body: JSON.stringify(p) })).status).toBe(201);
      const rs = await s.call('/fhir/ResearchSubject', {
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'ResearchSubject',
          status: 'on-study',
          study: { reference: 'ResearchStudy/nct04775173' },
          individual: { reference: `Patient/${id}` },
          assignedArm: 'low-dose',
          period: { start: '2020-01-01' },
        }),
      });
      expect(rs.status).toBe(201);
    }
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('keeps exactly the enrolled patients’ study results, and the counts add up', async () => {
    const expected = { retained: 0, 'not-enrolled': 0, 'not-relevant': 0 };
    for (const item of items) {
      const enrolled = item.patient !== undefined && ENROLLED.includes(item.patient);
      const relevant = (item.observation.code?.coding ?? []).some((c) => studyCodes.has(`${c.system}|${c.code}`));
      expected[enrolled ? (relevant ? 'retained' : 'not-relevant') : 'not-enrolled']++;
    }
    expect(items.length).toBeGreaterThan(5000);
    expect(expected.retained).toBeGreaterThan(20);

    const statuses = new Map<string, number>();
    for (let i = 0; i < items.length; i += 500) {
      const entry: BundleEntry[] = items.slice(i, i + 500).map((it) => ({
        resource: it.observation,
        request: { method: 'POST', url: 'Observation' },
      }));
      const res = await s.call('/fhir', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }),
      });
      expect(res.status).toBe(200);
      const out = (await res.json()) as Bundle;
      for (const e of out.entry ?? []) {
        const status = e.response?.status ?? '';
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status.startsWith('202')) expect(e.response?.outcome?.issue?.[0]?.severity).toBe('information');
      }
    }
    expect(Object.fromEntries(statuses)).toEqual({
      '201 Created': expected.retained,
      '202 Accepted': expected['not-enrolled'] + expected['not-relevant'],
    });

    const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';
    const stored = (await (await s.call(`/fhir/Observation?_summary=count&_tag:not=${TAG}`)).json()) as Bundle;
    expect(stored.total).toBe(expected.retained);
    // One trial record per kept result, linked to the subject's study.
    const records = (await (
      await s.call(`/fhir/Observation?_summary=count&_tag=${TAG}&study=ResearchStudy/nct04775173`)
    ).json()) as Bundle;
    expect(records.total).toBe(expected.retained);
    // Kept exactly as received: the patient named by the MRN the feed sent, one of the enrolled two.
    const kept = (await (await s.call(`/fhir/Observation?_count=1000&_tag:not=${TAG}`)).json()) as Bundle<Observation>;
    const mrns = new Set(kept.entry?.map((e) => e.resource?.subject?.identifier?.value));
    expect([...mrns].sort()).toEqual([...ENROLLED].sort());

    const metrics = await (await s.call('/metrics')).text();
    const counter = (outcome: string): number =>
      Number(
        new RegExp(`khe_ingest_results_total\\{outcome="${outcome}",resource_type="Observation"\\} (\\d+)`).exec(
          metrics,
        )?.[1] ?? 0,
      );
    expect(counter('retained')).toBe(expected.retained);
    expect(counter('not-enrolled')).toBe(expected['not-enrolled']);
    expect(counter('not-relevant')).toBe(expected['not-relevant']);
  }, 180_000);
});
