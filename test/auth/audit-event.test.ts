import { validateResource } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import type { AccessContext } from '../../src/auth/access-context.ts';
import {
  AUDIT_SUBTYPE_SYSTEM,
  buildAuditEvent,
  buildSummaryAuditEvent,
  inferInteraction,
  NOT_RETAINED_SUMMARY,
} from '../../src/auth/audit-event.ts';

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

  it('names an instance request’s resource and its query apart, and a batch’s reads one entity each', () => {
    const history = buildAuditEvent({
      access,
      action: 'R',
      outcome: '4',
      outcomeDesc: 'forbidden',
      what: { reference: 'Patient/1', type: 'Patient', query: '_since=2020-01-01' },
      recorded,
      httpMethod: 'GET',
      path: '/fhir/Patient/1/_history?_since=2020-01-01',
    });
    expect(history.entity?.slice(0, 2)).toMatchObject([
      { what: { reference: 'Patient/1' }, type: { code: 'Patient' }, role: { code: '4' } },
      { type: { code: 'Patient' }, role: { code: '24' }, query: Buffer.from('_since=2020-01-01').toString('base64') },
    ]);
    expect(history.entity?.[1]).not.toHaveProperty('what');
    expect(() => validateResource(history)).not.toThrow();

    const batch = buildAuditEvent({
      access,
      action: 'E',
      outcome: '0',
      subtype: 'batch',
      what: { type: 'system', query: '' },
      entities: [
        { reference: 'Observation/a', type: 'Observation' },
        { type: 'Patient', query: 'name=x' },
      ],
      recorded,
    });
    expect(batch.subtype?.[0]?.code).toBe('batch');
    expect(batch.entity?.map((e) => e.what?.reference ?? e.type?.code)).toEqual(['2', 'Observation/a', 'Patient']);
    expect(() => validateResource(batch)).not.toThrow();
  });

  it('names a caller that is not an API client (a CDS Hooks EHR) and the user it called for', () => {
    const event = buildAuditEvent({
      external: {
        system: 'https://khe-trial.example.org/fhir/sid/cds-issuer',
        value: 'https://ehr.example',
        altId: 'client-7',
        users: [{ system: 'https://khe-trial.example.org/fhir/sid/ehr-user', value: 'Practitioner/9' }],
      },
      action: 'E',
      outcome: '0',
      what: { reference: 'Patient/1', type: 'Patient' },
      recorded,
      path: '/cds-services/trial-status',
      httpMethod: 'POST',
    });
    const requestors = event.agent.filter((a) => a.requestor);
    expect(requestors.map((a) => a.who?.identifier?.value)).toEqual(['https://ehr.example', 'Practitioner/9']);
    expect(requestors[0]?.altId).toBe('client-7');
    expect(() => validateResource(event)).not.toThrow();
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

  it('summarises a client’s writes not retained: one entity with a count per reason, the interval as period', () => {
    const event = buildSummaryAuditEvent({
      client: access,
      counts: new Map([
        ['not-relevant', 2],
        ['not-enrolled', 40],
      ]),
      start: new Date('2026-11-24T09:59:00.000Z'),
      end: recorded,
      recorded,
    });
    expect(event).toMatchObject({
      subtype: [
        { system: 'http://hl7.org/fhir/restful-interaction', code: 'create' },
        { system: AUDIT_SUBTYPE_SYSTEM, code: NOT_RETAINED_SUMMARY },
      ],
      action: 'C',
      outcome: '0',
      period: { start: '2026-11-24T09:59:00.000Z', end: '2026-11-24T10:00:00.000Z' },
      agent: [{ who: { identifier: { value: 'registry-sync' } }, requestor: true }, { requestor: false }],
    });
    expect(event.entity).toHaveLength(1);
    expect(event.entity?.[0]?.detail).toEqual([
      { type: 'not-enrolled', valueString: '40' },
      { type: 'not-relevant', valueString: '2' },
    ]);
    expect(() => validateResource(event)).not.toThrow();
  });
});
