// Fixtures WRITTEN FOR THE TESTS. What the outcomes stage hands to write-back, inside its transaction.
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import type { PublishedVersion } from '../../src/outcomes/publish.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

describe('published versions for write-back', () => {
  let s: TestService;
  let engine: OutcomeEngine;
  const seen: PublishedVersion[][] = [];
  beforeAll(async () => {
    s = await startTestService();
    const studies = await loadStudyDefinitions('mappings/studies');
    engine = new OutcomeEngine(s.service.db, `${s.url}/fhir`, studies, {
      onPublished: async (q, published) => {
        // Inside the publishing transaction: what it wrote is visible here.
        const r = await q.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_summary');
        expect(Number(r.rows[0]?.n)).toBeGreaterThan(0);
        seen.push([...published]);
      },
    });
    await enroll(s, 'wb-1', { birthDate: '2020-01-01', start: '2022-01-10' });
  });
  afterAll(async () => {
    await s.stop();
  });

  const trough = (value: number, status: Observation['status'] = 'final'): Observation => ({
    resourceType: 'Observation',
    identifier: [{ system: 'urn:lab', value: 'wb-trough-1' }],
    status,
    code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
    subject: { reference: 'Patient/wb-1' },
    effectiveDateTime: '2022-02-08T08:00:00+08:00',
    valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
  });

  it('hands every new version over with its business identifier, and retractions as such', async () => {
    await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(trough(12)) });
    await engine.drain();
    const first = seen.flat();
    const status = first.find(
      (p) =>
        p.resourceType === 'Observation' && (p.resource as Observation).code?.coding?.[0]?.code === 'trough-status',
    );
    expect(status).toMatchObject({
      operation: 'upsert',
      versionId: 1,
      identifier: `https://khe-trial.example.org/fhir/sid/trial-outcome|${status?.id}`,
    });
    expect(first.some((p) => p.resourceType === 'Flag')).toBe(true);
    expect(first.some((p) => p.resourceType === 'MeasureReport')).toBe(true);
    expect(first.some((p) => p.resourceType === 'Provenance')).toBe(false);

    seen.length = 0;
    await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify(trough(12, 'entered-in-error')),
    });
    await engine.drain();
    const retracted = seen.flat().filter((p) => p.operation === 'retract');
    expect(retracted.map((p) => p.resourceType).sort()).toEqual(expect.arrayContaining(['Flag', 'Observation']));
    expect(retracted.every((p) => (p.resource as { status?: string } | undefined)?.status === 'entered-in-error')).toBe(
      true,
    );
  });
});

describe('outcomes reach the write-back outbox', () => {
  it('queues each published outcome version in the outbox, by business identifier', async () => {
    const s = await startTestService();
    try {
      await enroll(s, 'wb-2', { birthDate: '2020-01-01', start: '2022-01-10' });
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify({
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
          subject: { reference: 'Patient/wb-2' },
          effectiveDateTime: '2022-02-08T08:00:00+08:00',
          valueQuantity: { value: 7, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
        }),
      });
      expect(r.status).toBe(201);
      const report = await s.service.outcomes.drain();
      const res = await s.call('/admin/outbox?status=pending');
      expect(res.status).toBe(200);
      const text = await res.text();
      // One queued row per published Observation, Flag or MeasureReport (Provenance stays local).
      const observationIds = report.changed
        .filter((c) => c.startsWith('Observation/'))
        .map((c) => c.split('/')[1] as string);
      expect(observationIds.length).toBeGreaterThan(0);
      for (const id of observationIds) expect(text).toContain(id);
      expect(text).not.toContain('Provenance');
      // Every published outcome is valid R4 as it will be sent: none queued as a dead letter.
      const dead = (await (await s.call('/admin/outbox?status=dead')).json()) as { items: unknown[] };
      expect(dead.items).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
