-- A single version counter bumped in the same transaction as every ResearchSubject or Patient
-- write: instances compare it with their in-memory enrollment index before routing results, so a
-- subject enrolled through one instance is seen by all at their next request, without polling
-- the subject tables per result.
CREATE TABLE enrollment_state (
  id integer PRIMARY KEY CHECK (id = 1),
  version bigint NOT NULL
);
INSERT INTO enrollment_state (id, version) VALUES (1, 0);
