-- HL7 v2 messages applied, by sending facility and control id (MSH-4, MSH-10), written in the same
-- transaction as their effects: a message received again is acknowledged again, never applied twice.
CREATE TABLE hl7_messages (
  sending_facility text NOT NULL,
  control_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  ack text NOT NULL,
  PRIMARY KEY (sending_facility, control_id)
);
