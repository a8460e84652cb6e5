/**
 * GET /fhir/metadata: built from the same tables the server runs on (supported types, indexed
 * search parameters), so it lists exactly what is implemented.
 */
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestSecurity,
} from '@medplum/fhirtypes';
import { IMMUTABLE_RESOURCE_TYPES, SUPPORTED_RESOURCE_TYPES } from '../shared/resource-types.ts';
import { searchParamsFor } from './search/search-params.ts';

export interface CapabilityOptions {
  baseUrl: string;
  version: string;
  security?: CapabilityStatementRestSecurity | undefined;
  /** Operations added by later stages (e.g. $export), with their canonical definitions. */
  operations?: { name: string; definition: string }[];
  /** Type-level operations (Patient $export, Group $export, Patient $everything), by resource type. */
  resourceOperations?: Record<string, { name: string; definition: string }[]>;
  /** Canonical CapabilityStatements this server also implements (e.g. Bulk Data). */
  instantiates?: string[];
}

function resourceEntry(
  type: string,
  operations: { name: string; definition: string }[] | undefined,
): CapabilityStatementRestResource {
  const immutable = IMMUTABLE_RESOURCE_TYPES.has(type);
  const interactions = immutable
    ? ['read', 'vread', 'history-instance', 'history-type', 'search-type']
    : ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
  const searchParam = [
    { name: '_id', type: 'token' as const, definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
    {
      name: '_lastUpdated',
      type: 'date' as const,
      definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
    },
    ...[...searchParamsFor(type).values()].map((d) => ({
      name: d.code,
      type: d.type,
      definition: d.definitionUrl,
    })),
  ];
  const refParams = [...searchParamsFor(type).values()].filter((d) => d.type === 'reference');
  return {
    type: type as CapabilityStatementRestResource['type'],
    interaction: interactions.map((code) => ({ code: code as 'read' })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: !immutable,
    conditionalCreate: !immutable,
    conditionalUpdate: !immutable,
    conditionalDelete: 'not-supported',
    referencePolicy: ['literal', 'local'],
    searchInclude: refParams.map((d) => `${type}:${d.code}`),
    searchParam,
    ...(operations && operations.length > 0 ? { operation: operations } : {}),
  };
}

export function buildCapabilityStatement(options: CapabilityOptions): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'KHE trial FHIR adapter',
    kind: 'instance',
    ...(options.instantiates && options.instantiates.length > 0 ? { instantiates: options.instantiates } : {}),
    software: { name: 'khe-trial-fhir-adapter', version: options.version },
    implementation: { description: 'FHIR R4 adapter for NCT04775173', url: options.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        ...(options.security ? { security: options.security } : {}),
        resource: SUPPORTED_RESOURCE_TYPES.map((t) => resourceEntry(t, options.resourceOperations?.[t])),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
        ...(options.operations && options.operations.length > 0 ? { operation: options.operations } : {}),
      },
    ],
  };
}
