import { validateResource } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import type { AccessContext } from '../../src/auth/access-context.ts';
import { buildAuditEvent, inferInteraction } from '../../src/auth/audit-event.ts';

const access: AccessContext = {
  clientId: 'registry-sync',
  clientName: 'Trial registry',
  role: 'research',
  scopes: ['system/*.rs'],
  tokenId: 'tok-1',
};
const recorded = new Date('2026-11-24T10:00:00.000Z');

describe('buildAuditEvent', () => {
  it('describes a search: rest/search-type, requestor client with role, observer, query as base64', () => {
    const query = 'Observation?patient=khe-001&code=http://loinc.org|777-3';
    const event = buildAuditEvent({
      access,
      action: 'E',
      outcome: '0',
      what: { query, type: 'Observation' },
      sourceAddress: '10.1.2.3',
      recorded,
      requestId: 'req-42',
      httpMethod: 'GET',
      path: '/fhir/Observation',
    });
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'search-type' }],
      action: 'E',
      outcome: '0',
      recorded: '2026-11-24T10:00:00.000Z',
      source: { observer: { display: 'KHE trial FHIR adapter' } },
    });
    const requestor = event.agent.find((a) => a.requestor);
    expect(requestor).toMatchObject({
      who: { identifier: { value: 'registry-sync' }, display: 'Trial registry' },
      role: [{ coding: [{ code: 'research' }] }],
      network: { address: '10.1.2.3', type: '2' },
      policy: ['tok-1'],
    });
    const q = event.entity?.find((e) => e.query !== undefined);
    expect(Buffer.from(q?.query ?? '', 'base64').toString('utf8')).toBe(query);
    expect(q?.type).toEqual({ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' });
    expect(event.entity?.some((e) => e.what?.identifier?.value === 'req-42')).toBe(true);
    expect(() => validateResource(event)).not.toThrow();
    // The validator is live: the same event without its required source fails.
    const { source: _source, ...noSource } = event;
    expect(() => validateResource(noSource as typeof event)).toThrow();
  });

  it('describes a failed create and an unauthenticated request', () => {
    const created = buildAuditEvent({
      access,
      action: 'C',
      outcome: '4',
      outcomeDesc: 'forbidden',
      what: { reference: 'Observation/abc' },
      recorded,
      httpMethod: 'POST',
      path: '/fhir/Observation',
    });
    expect(created.subtype?.[0]?.code).toBe('create');
    expect(created.outcomeDesc).toBe('forbidden');
    expect(created.entity?.[0]).toMatchObject({
      what: { reference: 'Observation/abc' },
      type: { code: 'Observation' },
    });
    expect(() => validateResource(created)).not.toThrow();

    const anonymous = buildAuditEvent({
      action: 'R',
      outcome: '4',
      recorded,
      path: '/fhir/Patient/1',
      httpMethod: 'GET',
    });
    expect(anonymous.agent[0]).toMatchObject({ requestor: true, who: { display: 'unauthenticated client' } });
    expect(anonymous.agent[0]).not.toHaveProperty('role');
    expect(() => validateResource(anonymous)).not.toThrow();
  });

  it('infers the FHIR interaction from the request', () => {
    expect(inferInteraction({ action: 'R', path: '/fhir/Patient/1' })).toBe('read');
    expect(inferInteraction({ action: 'R', path: '/fhir/Patient/1/_history/2' })).toBe('vread');
    expect(inferInteraction({ action: 'R', path: '/fhir/Patient/1/_history' })).toBe('history-instance');
    expect(inferInteraction({ action: 'U', path: '/fhir/Patient/1', httpMethod: 'PUT' })).toBe('update');
    expect(inferInteraction({ action: 'D', path: '/fhir/Patient/1' })).toBe('delete');
    expect(inferInteraction({ action: 'E', path: '/fhir', httpMethod: 'POST' })).toBe('transaction');
    expect(inferInteraction({ action: 'E', path: '/fhir', httpMethod: 'POST', what: { type: 'batch' } })).toBe('batch');
    expect(inferInteraction({ action: 'E', path: '/fhir/$export' })).toBe('operation');
    expect(inferInteraction({ action: 'E', path: '/fhir/Observation?code=x' })).toBe('search-type');
  });
});
