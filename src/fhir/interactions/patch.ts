/**
 * PATCH with a JSON Patch document (RFC 6902; FHIR http.html#patch), applied with @medplum/core's
 * applyPatch (the rfc6902 implementation Medplum's server uses). The patch is all or nothing: the
 * patched resource then goes through the same update as a PUT (If-Match, validation, history, the
 * trial's gate for a kept source), so a PATCH can do nothing a PUT could not.
 */
import { applyPatch } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, fail, gone, notFound, unprocessable } from '../../shared/outcomes.ts';
import type { Queryable } from '../../store/db.ts';
import { readCurrent } from '../../store/resource-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { isValidId } from '../validate.ts';
import { refuseDerivedStored, refuseDerivedWrite } from './service-owned.ts';
import { updateResource } from './update.ts';

export type JsonPatch = Parameters<typeof applyPatch>[1];

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** Segments that reach JavaScript's prototypes instead of data (RFC 6901 unescaped: ~1 is /, ~0 is ~). */
const PROTOTYPE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

function pointerThroughPrototype(pointer: string): string | undefined {
  return pointer
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .find((s) => PROTOTYPE_SEGMENTS.has(s));
}

/** The body as a JSON Patch document: an array of operations, each with a known op and a path. */
export function asJsonPatch(body: unknown): JsonPatch {
  if (!Array.isArray(body)) fail(badRequest('A JSON Patch body is an array of operations'));
  body.forEach((op: unknown, i) => {
    const o = op as { op?: unknown; path?: unknown; from?: unknown } | null;
    if (typeof o !== 'object' || o === null || typeof o.op !== 'string' || !OPS.has(o.op)) {
      fail(badRequest(`Patch operation ${i} needs op add, remove, replace, move, copy or test`));
    }
    if (typeof o.path !== 'string') fail(badRequest(`Patch operation ${i} needs a path`));
    if ((o.op === 'move' || o.op === 'copy') && typeof o.from !== 'string') {
      fail(badRequest(`Patch operation ${i} (${o.op}) needs a from`));
    }
    for (const pointer of [o.path, o.from]) {
      const bad = typeof pointer === 'string' ? pointerThroughPrototype(pointer) : undefined;
      if (bad) fail(badRequest(`Patch operation ${i}: ${bad} in ${pointer} is not a FHIR element`));
    }
    if ((o.op === 'add' || o.op === 'replace' || o.op === 'test') && !('value' in o)) {
      fail(badRequest(`Patch operation ${i} (${o.op}) needs a value`));
    }
  });
  return body as JsonPatch;
}

/** Must run inside a transaction, like updateResource (it reads the current version first). */
export async function patchResource(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  patch: JsonPatch,
  options: { ifMatch?: string | undefined } = {},
): Promise<FhirResponse> {
  ctx.authorize(type, 'update');
  refuseDerivedWrite(ctx, type, id, undefined);
  if (!isValidId(id)) fail(notFound(`${type}/${id} not found`));
  const current = await readCurrent(q, type, id, true);
  if (!current) fail(notFound(`${type}/${id} not found`));
  refuseDerivedStored(ctx, type, id, current.content);
  if (current.deleted || !current.content) fail(gone(`${type}/${id} is deleted`));
  const resource = JSON.parse(current.content) as Resource;
  const errors = applyPatch(resource, patch).flatMap((e, i) => (e ? [`operation ${i}: ${e.message}`] : []));
  if (errors.length > 0) fail(unprocessable(`The patch cannot be applied to ${type}/${id}: ${errors.join('; ')}`));
  if (resource.resourceType !== type || resource.id !== id) {
    fail(badRequest('A patch may not change resourceType or id'));
  }
  return updateResource(ctx, q, type, id, resource, options);
}
