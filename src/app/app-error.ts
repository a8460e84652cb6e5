/**
 * Internal and operational errors carry a stable code (as Fastify's error catalogue does) so that
 * tests and operators can match them without parsing messages. FHIR-facing errors are
 * OperationOutcomeError from @medplum/core instead; see src/fhir/outcomes.ts.
 */
export class AppError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'AppError';
  }
}
