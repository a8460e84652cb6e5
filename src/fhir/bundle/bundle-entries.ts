/** Checks a batch/transaction Bundle's shape and turns its entries into FhirRequests. */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { type FhirRequest, splitUrl } from '../dispatch.ts';
import { badRequest, fail } from '../outcomes.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']);

export interface ParsedEntry {
  index: number;
  fullUrl: string | undefined;
  request: FhirRequest;
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
    if (method === 'PATCH')
      fail(badRequest(`${where}: PATCH is supported over HTTP, not inside a Bundle`, `${where}.request.method`));
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
    return {
      index,
      fullUrl: e.fullUrl,
      request: {
        method: method === 'HEAD' ? 'GET' : method,
        path,
        query,
        body,
        ifMatch: e.request?.ifMatch,
        ifNoneExist: e.request?.ifNoneExist,
        strict,
      },
    };
  });
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
