/** Checks a batch/transaction Bundle's shape and turns its entries into FhirRequests. */
import type { Binary, Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { badRequest, fail, OperationOutcomeError } from '../../shared/outcomes.ts';
import { type FhirRequest, splitUrl } from '../dispatch.ts';
import { asJsonPatch, type JsonPatch } from '../interactions/patch.ts';
import { DEFAULT_MAX_JSON_DEPTH, parseJsonBody } from '../json-body.ts';
import type { WritePlan } from '../write-pipeline.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

export interface ParsedEntry {
  index: number;
  fullUrl: string | undefined;
  request: FhirRequest;
  /** How the bundle processor plans this entry's write (decided, known absent, deferred). */
  plan: WritePlan;
}

export function parseEntries(bundle: Bundle, baseUrl: string, strict: boolean, maxEntries: number): ParsedEntry[] {
  const entries = bundle.entry ?? [];
  if (entries.length > maxEntries) {
    fail(badRequest(`Bundle has ${entries.length} entries; this server accepts at most ${maxEntries}`, 'Bundle.entry'));
  }
  return entries.map((e: BundleEntry, index) => {
    const where = `Bundle.entry[${index}]`;
    const method = e.request?.method;
    const url = e.request?.url;
    if (!method || !METHODS.has(method) || !url) {
      fail(badRequest(`${where}.request needs a method and a url`, `${where}.request`));
    }
    const relative = url.startsWith(`${baseUrl}/`) ? url.slice(baseUrl.length + 1) : url;
    if (/^[a-z]+:\/\//i.test(relative))
      fail(badRequest(`${where}.request.url is not on this server`, `${where}.request.url`));
    const { path, query } = splitUrl(relative);
    const body = e.resource as Resource | undefined;
    if ((method === 'POST' || method === 'PUT') && !body) {
      fail(badRequest(`${where} ${method} needs a resource`, `${where}.resource`));
    }
    const patch = method === 'PATCH' ? patchOfEntry(body, where) : undefined;
    return {
      index,
      fullUrl: e.fullUrl,
      request: {
        method: method === 'HEAD' ? 'GET' : method,
        path,
        query,
        body: patch ? undefined : body,
        patch,
        ifMatch: e.request?.ifMatch,
        ifNoneExist: e.request?.ifNoneExist,
        strict,
      },
      plan: {},
    };
  });
}

/**
 * A PATCH entry carries its JSON Patch as a Binary (http.html#patch: "the body of the entry is a
 * Binary resource with contentType application/json-patch+json"). FHIRPath Patch (Parameters) is
 * not supported.
 */
function patchOfEntry(body: Resource | undefined, where: string): JsonPatch {
  const binary = body as Binary | undefined;
  if (binary?.resourceType !== 'Binary' || binary.contentType !== 'application/json-patch+json' || !binary.data) {
    fail(
      badRequest(
        `${where} PATCH needs a Binary resource with contentType application/json-patch+json and data`,
        `${where}.resource`,
      ),
    );
  }
  try {
    return asJsonPatch(parseJsonBody(Buffer.from(binary.data, 'base64'), DEFAULT_MAX_JSON_DEPTH, "The Binary's data"));
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      const text = err.outcome.issue?.[0]?.details?.text ?? 'not a JSON Patch';
      fail(badRequest(`${where} PATCH: ${text}`, `${where}.resource`));
    }
    throw err;
  }
}

export function statusLine(status: number): string {
  const text: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    202: 'Accepted',
    204: 'No Content',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    410: 'Gone',
    412: 'Precondition Failed',
    422: 'Unprocessable Entity',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
  };
  return `${status} ${text[status] ?? ''}`.trim();
}
