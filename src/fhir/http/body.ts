/**
 * Request bodies for the FHIR API: JSON only (application/fhir+json or application/json), parsed
 * here so that malformed JSON is a 400 OperationOutcome that says where it broke.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Request } from 'express';
import { badRequest, fail, unsupportedMediaType } from '../../shared/outcomes.ts';
import { DEFAULT_MAX_JSON_DEPTH, decodeUtf8, parseJsonBody } from '../json-body.ts';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

export function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function rawBody(req: Request): Buffer | undefined {
  const body: unknown = req.body;
  return Buffer.isBuffer(body) && body.length > 0 ? body : undefined;
}

export function readResourceBody(req: Request, maxDepth = DEFAULT_MAX_JSON_DEPTH): Resource | undefined {
  const raw = rawBody(req);
  if (!raw) return undefined;
  const type = mediaType(req);
  if (!JSON_TYPES.has(type)) {
    fail(unsupportedMediaType(`Content-Type ${type || '(none)'} is not supported; send application/fhir+json`));
  }
  const parsed = parseJsonBody(raw, maxDepth);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    fail(badRequest('The body must be a JSON object (a FHIR resource)'));
  }
  const resource = parsed as Resource;
  if (typeof resource.resourceType !== 'string') fail(badRequest('The body has no resourceType', 'resourceType'));
  return resource;
}

/** POST [type]/_search carries its parameters form-encoded (search.html#Introduction). */
export function readSearchForm(req: Request): URLSearchParams {
  const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  const raw = rawBody(req);
  if (!raw) return query;
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    fail(unsupportedMediaType('POST _search takes application/x-www-form-urlencoded parameters'));
  }
  for (const [k, v] of new URLSearchParams(decodeUtf8(raw))) query.append(k, v);
  return query;
}

/** PATCH bodies: a JSON Patch document (application/json-patch+json), FHIR http.html#patch. */
export function readJsonPatchBody(req: Request, maxDepth = DEFAULT_MAX_JSON_DEPTH): unknown {
  const raw = rawBody(req);
  if (!raw) fail(badRequest('PATCH needs a JSON Patch body'));
  const type = mediaType(req);
  if (type !== 'application/json-patch+json') {
    fail(
      unsupportedMediaType(
        `Content-Type ${type || '(none)'} is not supported for PATCH; send application/json-patch+json`,
      ),
    );
  }
  return parseJsonBody(raw, maxDepth);
}
