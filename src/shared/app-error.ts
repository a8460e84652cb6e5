/**
 * The catalogue of internal and operational errors, as Fastify's lib/errors.js: each code defined
 * once, with its message and the HTTP status it means if it ever reaches a response, so tests and
 * operators match codes instead of parsing messages. FHIR-facing errors are OperationOutcomeError
 * from @medplum/core instead; see src/shared/outcomes.ts.
 */
import { format } from 'node:util';

interface ErrorDefinition {
  /** util.format template: `%s` takes the detail of one occurrence. */
  message: string;
  status: number;
}

export const APP_ERRORS = {
  CONFIG_INVALID: { message: 'configuration error: %s', status: 500 },
  AUTH_CLIENTS_INVALID: { message: 'clients file %s', status: 500 },
  AUTH_CLIENTS_REQUIRED: { message: 'no API clients: %s', status: 500 },
  AUTH_DEV_CLIENTS_INVALID: { message: '%s is not a development clients file; delete it to regenerate', status: 500 },
  STUDY_DEFINITION_INVALID: { message: 'study definitions: %s', status: 500 },
  PROFILE_INVALID: { message: 'profile %s', status: 500 },
  MAPPING_CONCEPTMAP_INVALID: { message: 'ConceptMap %s', status: 500 },
  MAPPING_QUESTIONNAIRE_INVALID: { message: 'Questionnaire %s', status: 500 },
  MAPPING_QUESTIONNAIRE_MISSING: { message: 'no Questionnaire %s in mappings/questionnaires/', status: 500 },
  MAPPING_UNIT_ALIASES_INVALID: { message: 'unit aliases %s', status: 500 },
  MAPPING_HL7_SYSTEMS_INVALID: { message: 'HL7 v2 systems file %s', status: 500 },
  // A pushed result the trial cannot normalise: the sender's data, so 422 like a profile failure.
  MAPPING_VALUE_MISSING: { message: 'no value: %s', status: 422 },
  MAPPING_UNIT_UNKNOWN: { message: 'unknown unit: %s', status: 422 },
  MAPPING_UNIT_INCOMPATIBLE: { message: 'unit %s', status: 422 },
  MAPPING_VALUE_IMPOSSIBLE: { message: 'physiologically impossible value: %s', status: 422 },
  OUTBOX_ITEM_INVALID: { message: 'outbox item %s', status: 500 },
  // Dead letters made by the adapter itself (never sent): the resource is not valid R4, or gone.
  OUTBOX_RESOURCE_INVALID: { message: 'not valid R4, not sent: %s', status: 500 },
  OUTBOX_RESOURCE_MISSING: { message: '%s is not in the store', status: 500 },
  STORE_DATA_DIR_LOCKED: { message: 'data folder %s', status: 503 },
  UPSTREAM_TOKEN_FAILED: { message: 'upstream token request: %s', status: 502 },
} as const satisfies Record<string, ErrorDefinition>;

export type AppErrorCode = keyof typeof APP_ERRORS;

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly status: number;
  constructor(code: AppErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = APP_ERRORS[code].status;
    this.name = 'AppError';
  }
}

/** The error of `code`, its catalogue message filled with this occurrence's detail. */
export function appError(code: AppErrorCode, detail: string, options?: { cause?: unknown }): AppError {
  return new AppError(code, format(APP_ERRORS[code].message, detail), options);
}
