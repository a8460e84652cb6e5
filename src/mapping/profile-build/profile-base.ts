/** Canonical base of the StructureDefinitions this project publishes in profiles/. */
export const PROFILE_BASE = 'https://khe-trial.example.org/fhir/StructureDefinition';
