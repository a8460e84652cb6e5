/**
 * Test helper: stores a resource as the service's own stages do (no access context), for fixtures
 * of derived data (trial records, outcomes, Provenance, MeasureReports, Flags, Groups), which no
 * client may write through the API.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { putVersion } from '../../src/fhir/interactions/write-version.ts';
import type { TestService } from './test-service.ts';

export async function writeAsService<T extends Resource>(s: TestService, resource: T): Promise<T> {
  const id = resource.id ?? randomUUID();
  const stored = await putVersion(s.testDb.db, s.fhir, resource, id, 1, 'POST');
  return JSON.parse(stored.content as string) as T;
}
