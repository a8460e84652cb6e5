/**
 * The test FHIR server (fhir-router + MemoryRepository), or with --stub a minimal Map-backed
 * upstream, as its own process for the benchmarks, so the upstream does not share the adapter's event loop. Prints one JSON line
 * { base, token } when listening; stops on SIGTERM.
 */
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { startFhirUpstream } from '../../test/support/fhir-upstream.ts';
import { startStubUpstream } from './stub-upstream.ts';

const token = 'bench-upstream-token';
let up: { base: string; close(): Promise<void> };
if (process.argv.includes('--stub')) {
  up = await startStubUpstream(token);
} else {
  loadFhirDefinitions();
  up = await startFhirUpstream(token);
}
process.stdout.write(`${JSON.stringify({ base: up.base, token })}\n`);
process.on('SIGTERM', () => {
  void up.close().then(() => process.exit(0));
});
