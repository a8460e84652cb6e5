// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

const platelets = (id: string, value: number): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  subject: { reference: 'Patient/vq-1' },
  effectiveDateTime: '2022-02-09T08:00:00+08:00',
  valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

describe('value-quantity with every prefix', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    for (const [id, v] of [
      ['vq-a', 50],
      ['vq-b', 150],
      ['vq-c', 250],
    ] as const) {
      const res = await s.call(`/fhir/Observation/${id}`, { method: 'PUT', body: JSON.stringify(platelets(id, v)) });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await s.stop();
  });

  const ids = async (query: string, role: 'admin' | 'research' = 'admin'): Promise<string[]> => {
    const res = await s.call(`/fhir/Observation?${query}`, { role });
    expect(res.status, `${query}: ${res.status}`).toBe(200);
    const b = (await res.json()) as Bundle;
    return (b.entry ?? []).map((e) => e.resource?.id ?? '').sort();
  };

  it.each([
    ['eq150', ['vq-b']],
    ['ap150', ['vq-b']],
    ['gt150', ['vq-c']],
    ['ge150', ['vq-b', 'vq-c']],
    ['lt150', ['vq-a']],
    ['le150', ['vq-a', 'vq-b']],
    ['ne150', ['vq-a', 'vq-c']],
    ['150', ['vq-b']],
    ['gt100|http://unitsofmeasure.org|10*9/L', ['vq-b', 'vq-c']],
    ['le150||10*9/L', ['vq-a', 'vq-b']],
    ['lt100,gt200', ['vq-a', 'vq-c']],
  ])('value-quantity=%s finds %j', async (value, expected) => {
    expect(await ids(`value-quantity=${encodeURIComponent(value)}`)).toEqual(expected);
  });

  it('answers every role that may search, not only the admin', async () => {
    expect(await ids('value-quantity=ge100&value-quantity=le200', 'research')).toEqual(['vq-b']);
  });
});
