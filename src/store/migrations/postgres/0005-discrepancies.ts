import type { Migration } from '../migration.js';

/** The review queue: discrepancies found by reconciliation (src/store/review-store.ts). */
export const migration0005: Migration = {
  version: 5,
  name: 'discrepancies',
  sql: `
CREATE TABLE {{schema}}.discrepancies (
  id bigserial PRIMARY KEY,
  pipeline text NOT NULL,
  key text NOT NULL,
  source_key text,
  class text NOT NULL,
  status text NOT NULL,
  fields jsonb NOT NULL,
  source_doc jsonb,
  target_doc jsonb,
  error text,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL,
  closed_at bigint,
  run_id text NOT NULL,
  assignee text,
  reason text,
  repair_job text
);
CREATE UNIQUE INDEX discrepancies_live ON {{schema}}.discrepancies (pipeline, key) WHERE status IN ('open', 'ignored', 'repairing');
CREATE INDEX discrepancies_status ON {{schema}}.discrepancies (pipeline, status, id);
`,
};
