-- Under which declarations the arm-revealing labels of stored resources were decided: a fingerprint
-- of what decides the label (src/ingest/routing-table.ts armLabelFingerprint: the study.json
-- armRevealing declarations and the ConceptMap codes that map to an arm-revealing measure). An
-- instance that starts with another fingerprint relabels what is stored (src/ingest/relabel.ts),
-- one window at a time under an advisory lock; (next_type, next_seq) is where the next window
-- starts, both NULL once every type is done. One row.
CREATE TABLE arm_label_state (
  id integer PRIMARY KEY CHECK (id = 1),
  fingerprint text NOT NULL,
  next_type text,
  next_seq bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);
