/**
 * Token endpoint failures as RFC 6749 §5.2 JSON errors (not FHIR OperationOutcomes: OAuth clients
 * parse `error`). invalid_client is 401; the rest are 400.
 */
import type { Response } from 'express';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error';

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  /** RFC 6749 §5.2: a client that authenticated with the Authorization header gets a challenge back. */
  readonly basicChallenge: boolean;

  constructor(error: OAuthErrorCode, description: string, options: { status?: number; basicChallenge?: boolean } = {}) {
    super(description);
    this.name = 'OAuthError';
    this.error = error;
    this.status = options.status ?? (error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : 400);
    this.basicChallenge = options.basicChallenge ?? false;
  }
}

export function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

export function sendOAuthError(res: Response, err: OAuthError): void {
  noStore(res);
  if (err.basicChallenge) res.setHeader('WWW-Authenticate', 'Basic realm="auth", charset="UTF-8"');
  // error_description is limited to printable ASCII without " and \ (RFC 6749 §5.2).
  const description = err.message.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
  res.status(err.status).json({ error: err.error, error_description: description });
}
