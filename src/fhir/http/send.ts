/**
 * The one place FHIR JSON leaves the service: headers (ETag, Last-Modified, Location), the Prefer
 * return preference, and outcome-assessor masking applied to whatever is sent.
 */
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Response } from 'express';
import type { AccessContext } from '../../auth/access-context.ts';
import { maskBundle, maskForAccess } from '../../auth/masking.ts';
import { createdOutcome, notFound, ok, outcomeText } from '../../shared/outcomes.ts';
import type { FhirResponse } from '../fhir-context.ts';
import type { Preferences } from './prefer.ts';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Masks a JSON text for the caller; only roles that are masked pay for a parse. */
export function maskedText(text: string, access: AccessContext | undefined): string | undefined {
  if (access?.role !== 'outcome-assessor') return text;
  const resource = JSON.parse(text) as Resource;
  const masked = resource.resourceType === 'Bundle' ? maskBundle(resource, access) : maskForAccess(resource, access);
  return masked === undefined ? undefined : JSON.stringify(masked);
}

export function sendOutcome(res: Response, status: number, outcome: OperationOutcome): void {
  res.status(status).type(FHIR_JSON).send(outcomeText(outcome));
}

export function sendFhir(res: Response, r: FhirResponse, prefs: Preferences, access: AccessContext | undefined): void {
  // Masked before any header is set: a hidden resource must not leave its ETag or Last-Modified.
  const body = r.outcome === undefined && r.body !== undefined ? maskedText(r.body, access) : undefined;
  if (r.body !== undefined && r.outcome === undefined && body === undefined) {
    sendOutcome(res, 404, notFound('Not found'));
    return;
  }
  if (r.versionId !== undefined) res.setHeader('ETag', `W/"${r.versionId}"`);
  if (r.lastUpdated) res.setHeader('Last-Modified', new Date(r.lastUpdated).toUTCString());
  if (r.location) {
    if (r.status === 201) res.setHeader('Location', r.location);
    else res.setHeader('Content-Location', r.location);
  }
  if (r.outcome) {
    sendOutcome(res, r.status, r.outcome);
    return;
  }
  const isWrite = r.status === 201 || r.location !== undefined;
  if (isWrite && prefs.return === 'minimal') {
    res.status(r.status).end();
    return;
  }
  if (isWrite && prefs.return === 'OperationOutcome') {
    sendOutcome(res, r.status, r.status === 201 ? createdOutcome() : ok());
    return;
  }
  if (body === undefined) {
    res.status(r.status).end();
    return;
  }
  if (r.status === 200 && r.versionId !== undefined && matchesIfNoneMatch(res, r.versionId)) {
    // Conditional read (http.html#cread), whatever Cache-Control the client sends: fetch() adds
    // no-cache to a request with If-None-Match, which Express's own freshness check honours.
    res.status(304).end();
    return;
  }
  res.status(r.status).type(FHIR_JSON).send(body);
}

/** If-None-Match names this version (W/"3", "3" or *), on a GET or HEAD. */
function matchesIfNoneMatch(res: Response, versionId: number): boolean {
  const method = res.req.method;
  if (method !== 'GET' && method !== 'HEAD') return false;
  const header = res.req.headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '').replace(/^"|"$/g, '') === String(versionId);
  });
}
