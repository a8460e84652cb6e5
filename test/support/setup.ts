// Loads the FHIR R4 base definitions into @medplum/core's global registry once per test worker,
// as the service does once at start-up.
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';

loadFhirDefinitions();
