/** How the CapabilityStatement advertises Bulk Data (export.html#bulk-data-server-capabilitystatement). */
export const BULK_DATA_INSTANTIATES = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';

const BULK = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition';

/** rest.operation: the names standards.md lists (clients look for them here). */
export const BULK_DATA_OPERATIONS: { name: string; definition: string }[] = [
  { name: 'export', definition: `${BULK}/export` },
  { name: 'patient-export', definition: `${BULK}/patient-export` },
  { name: 'group-export', definition: `${BULK}/group-export` },
];

/** rest.resource[type].operation, as the IG's own bulk-data CapabilityStatement places them. */
export const BULK_DATA_RESOURCE_OPERATIONS: Record<string, { name: string; definition: string }[]> = {
  Patient: [
    { name: 'export', definition: `${BULK}/patient-export` },
    { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
  ],
  Group: [{ name: 'export', definition: `${BULK}/group-export` }],
};
