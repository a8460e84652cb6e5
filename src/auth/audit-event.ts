/**
 * Builds the R4 AuditEvent for one API interaction (pure; the FHIR layer persists it). The shape
 * follows IHE Basic Audit Log Patterns for RESTful access: type `rest`, subtype the FHIR
 * interaction, the client as requestor (with its role, address and token id), the adapter as
 * observer, and the resource or query touched (a query as base64Binary, as R4 types it).
 */
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import type { AccessContext } from './access-context.ts';

export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';
export type AuditOutcome = '0' | '4' | '8' | '12';

/**
 * A resource or query an interaction touched. With both a reference and a query (a compartment
 * search, an instance's history with parameters), the resource and the query are two entities; the
 * query's resource type is `queryType` when it differs from the resource's (Patient/1/Observation?…).
 */
export interface AuditWhat {
  reference?: string;
  query?: string;
  type?: string;
  queryType?: string;
}

/**
 * A caller that is not one of the API's clients (a CDS Hooks EHR): its identity as the system that
 * vouched for it names it (`system|value`), with its own id for the caller (`altId`, a JWT `sub`),
 * and the end users it acted for (the hook's userId / fhirUser).
 */
export interface ExternalRequestor {
  system: string;
  value: string;
  altId?: string | undefined;
  users?: readonly { system: string; value: string }[] | undefined;
}

export interface AuditInput {
  access?: AccessContext;
  /** The requestor when the caller is not an API client (access unset). */
  external?: ExternalRequestor | undefined;
  action: AuditAction;
  outcome: AuditOutcome;
  what?: AuditWhat;
  /** Further resources read and queries run (a batch's entries), one entity each. */
  entities?: readonly AuditWhat[] | undefined;
  sourceAddress?: string;
  recorded: Date;
  requestId?: string;
  httpMethod?: string;
  path?: string;
  /** The FHIR interaction (restful-interaction code), when the caller knows it better than the inference. */
  subtype?: RestfulInteraction;
  /** Why it failed, for outcomes other than 0. */
  outcomeDesc?: string;
}

export type RestfulInteraction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search'
  | 'search-type'
  | 'search-system'
  | 'capabilities'
  | 'transaction'
  | 'batch'
  | 'operation';

export const AUDIT_OBSERVER_NAME = 'KHE trial FHIR adapter';
export const ACCESS_ROLE_SYSTEM = 'https://khe-trial.example.org/fhir/CodeSystem/access-role';
export const CLIENT_ID_SYSTEM = 'https://khe-trial.example.org/fhir/sid/client-id';
/** A CDS Hooks caller: the allow-listed JWT issuer. */
export const CDS_ISSUER_SYSTEM = 'https://khe-trial.example.org/fhir/sid/cds-issuer';
/** The EHR user a CDS call was made for (the hook context's userId or fhirUser, as the EHR names it). */
export const EHR_USER_SYSTEM = 'https://khe-trial.example.org/fhir/sid/ehr-user';

const AUDIT_TYPE: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  code: 'rest',
  display: 'RESTful Operation',
};
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/** Infers the interaction from the HTTP request when the caller did not say. */
export function inferInteraction(
  input: Pick<AuditInput, 'action' | 'httpMethod' | 'path' | 'what'>,
): RestfulInteraction {
  const path = (input.path ?? '').split('?')[0] ?? '';
  const segments = path.split('/').filter((s) => s.length > 0 && s !== 'fhir');
  const method = input.httpMethod?.toUpperCase();
  if (segments.some((s) => s.startsWith('$'))) return 'operation';
  const history = segments.indexOf('_history');
  if (history >= 0) {
    if (history + 1 < segments.length) return 'vread';
    return history === 0 ? 'history-system' : history === 1 ? 'history-type' : 'history-instance';
  }
  if (segments[0] === 'metadata') return 'capabilities';
  switch (input.action) {
    case 'C':
      return 'create';
    case 'U':
      return method === 'PATCH' ? 'patch' : 'update';
    case 'D':
      return 'delete';
    case 'R':
      return segments.length >= 2 ? 'read' : segments.length === 1 ? 'search-type' : 'search-system';
    case 'E':
      if (segments.length === 0 && method === 'POST') return input.what?.type === 'batch' ? 'batch' : 'transaction';
      return segments.length === 0 ? 'search-system' : 'search-type';
  }
}

function requestor(input: AuditInput): AuditEventAgent {
  const a = input.access;
  const x = input.external;
  const agent: AuditEventAgent = {
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: a
      ? { identifier: { system: CLIENT_ID_SYSTEM, value: a.clientId }, display: a.clientName }
      : x
        ? { identifier: { system: x.system, value: x.value } }
        : { display: 'unauthenticated client' },
    requestor: true,
  };
  if (!a && x?.altId) agent.altId = x.altId;
  if (a) {
    agent.role = [{ coding: [{ system: ACCESS_ROLE_SYSTEM, code: a.role }], text: a.role }];
    // BALP records the access token's id here, linking the event to the token that authorised it.
    agent.policy = [a.tokenId];
  }
  if (input.sourceAddress) agent.network = { address: input.sourceAddress, type: '2' };
  return agent;
}

/** The end users a CDS call was made for: requestors too, as BALP records a user behind a client. */
function users(input: AuditInput): AuditEventAgent[] {
  if (input.access) return [];
  return (input.external?.users ?? []).map((u) => ({
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: { identifier: { system: u.system, value: u.value } },
    requestor: true,
  }));
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;

function entityType(resourceType: string | undefined): AuditEventEntity['type'] {
  return resourceType && RESOURCE_TYPE.test(resourceType)
    ? { system: 'http://hl7.org/fhir/resource-types', code: resourceType }
    : { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' };
}

function entitiesOf(what: AuditWhat): AuditEventEntity[] {
  const out: AuditEventEntity[] = [];
  if (!what.reference && what.query === undefined && !what.type) return out;
  const ownType = what.type && RESOURCE_TYPE.test(what.type) ? what.type : what.reference?.split('/')[0];
  if (what.reference || what.query === undefined) {
    const entity: AuditEventEntity = {};
    if (what.reference) entity.what = { reference: what.reference };
    entity.type = entityType(what.reference?.split('/')[0] ?? ownType);
    entity.role = {
      system: 'http://terminology.hl7.org/CodeSystem/object-role',
      code: '4',
      display: 'Domain Resource',
    };
    out.push(entity);
  }
  if (what.query !== undefined) {
    out.push({
      type: entityType(what.queryType ?? ownType),
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
      query: Buffer.from(what.query, 'utf8').toString('base64'),
    });
  }
  return out;
}

function entities(input: AuditInput): AuditEventEntity[] {
  const out: AuditEventEntity[] = [];
  if (input.what) out.push(...entitiesOf(input.what));
  for (const extra of input.entities ?? []) out.push(...entitiesOf(extra));
  if (input.requestId) {
    out.push({
      what: { identifier: { value: input.requestId } },
      type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' },
    });
  }
  return out;
}

export function buildAuditEvent(input: AuditInput): AuditEvent {
  const interaction = input.subtype ?? inferInteraction(input);
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    type: AUDIT_TYPE,
    subtype: [{ system: RESTFUL, code: interaction }],
    action: input.action,
    recorded: input.recorded.toISOString(),
    outcome: input.outcome,
    agent: [
      requestor(input),
      ...users(input),
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: { display: AUDIT_OBSERVER_NAME },
        requestor: false,
      },
    ],
    source: {
      observer: { display: AUDIT_OBSERVER_NAME },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
  };
  if (input.outcomeDesc && input.outcome !== '0') event.outcomeDesc = input.outcomeDesc;
  const ent = entities(input);
  if (ent.length > 0) event.entity = ent;
  return event;
}

/** The code system of the adapter's own audit subtypes (the summary of writes not retained). */
export const AUDIT_SUBTYPE_SYSTEM = 'https://khe-trial.example.org/fhir/CodeSystem/audit-subtype';
/** The subtype code of a summary of writes not retained (search: AuditEvent?subtype=system|code). */
export const NOT_RETAINED_SUMMARY = 'not-retained-summary';

export interface SummaryInput {
  /** The client whose writes are counted. */
  client: Pick<AccessContext, 'clientId' | 'clientName' | 'role'>;
  /** Writes counted per reason (the gate's outcome: not-enrolled, not-relevant). */
  counts: ReadonlyMap<string, number>;
  /** The interval counted: from the first write counted to the flush. */
  start: Date;
  end: Date;
  recorded: Date;
}

/**
 * One AuditEvent for a client's writes that were turned away and touched nothing during an
 * interval: the client as requestor, the interval as `period`, and one entity whose `detail` holds
 * the count of each reason (R4 types a detail's value as a string). Nothing about the resources
 * sent (patients, codes) is recorded: none of it was kept.
 */
export function buildSummaryAuditEvent(input: SummaryInput): AuditEvent {
  const { client } = input;
  let total = 0;
  const detail: { type: string; valueString: string }[] = [];
  for (const [reason, count] of [...input.counts].sort((a, b) => a[0].localeCompare(b[0]))) {
    total += count;
    detail.push({ type: reason, valueString: String(count) });
  }
  return {
    resourceType: 'AuditEvent',
    type: AUDIT_TYPE,
    subtype: [
      { system: RESTFUL, code: 'create' },
      { system: AUDIT_SUBTYPE_SYSTEM, code: NOT_RETAINED_SUMMARY, display: 'Writes not retained, counted' },
    ],
    action: 'C',
    period: { start: input.start.toISOString(), end: input.end.toISOString() },
    recorded: input.recorded.toISOString(),
    outcome: '0',
    agent: [
      {
        type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
        who: { identifier: { system: CLIENT_ID_SYSTEM, value: client.clientId }, display: client.clientName },
        role: [{ coding: [{ system: ACCESS_ROLE_SYSTEM, code: client.role }], text: client.role }],
        requestor: true,
      },
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: { display: AUDIT_OBSERVER_NAME },
        requestor: false,
      },
    ],
    source: {
      observer: { display: AUDIT_OBSERVER_NAME },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    entity: [
      {
        type: {
          system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
          code: '2',
          display: 'System Object',
        },
        name: 'writes not retained',
        description: `${total} write(s) answered 202 and not stored, counted by reason`,
        detail,
      },
    ],
  };
}
