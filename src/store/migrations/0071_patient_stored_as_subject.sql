-- `patient` rows that repeated another parameter's rows (issue 20). On these types R4 defines
-- `patient` as that parameter restricted to Patient targets (Observation.subject.where(resolve() is
-- Patient), Provenance.target…, ResearchSubject.individual), so its index rows were exactly the other
-- parameter's rows naming a Patient. They are no longer written: `patient` searches, _include and
-- _revinclude read the other parameter's rows (src/store/stored-as.ts, StoredAs in
-- src/fhir/search/search-params.ts). test/fhir/search/patient-stored-as.test.ts checks this list
-- against the registry.
DELETE FROM sp_reference
 WHERE param = 'patient'
   AND resource_type IN ('DiagnosticReport', 'Encounter', 'Flag', 'MeasureReport', 'MedicationAdministration',
                         'MedicationRequest', 'MedicationStatement', 'Observation', 'Provenance',
                         'QuestionnaireResponse', 'ResearchSubject', 'Specimen');
