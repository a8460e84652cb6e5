-- Per subject, a fingerprint of what its last recomputation read: the versions of its
-- ResearchSubject, Patient, trial records and medications, with the study definitions and the day
-- (src/outcomes/fingerprint.ts). A marked subject whose fingerprint is unchanged is not loaded nor
-- computed again (issue 20); `outcomes` is how many outcome resources it then had, for the report.
CREATE TABLE outcome_fingerprints (
  research_subject_id text PRIMARY KEY,
  fingerprint text NOT NULL,
  outcomes integer NOT NULL
);
