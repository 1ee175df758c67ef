import type { Migration } from '../migration.js';

/** The review queue: discrepancies found by reconciliation (src/store/review-store.ts). */
export const migration0005: Migration = {
  version: 5,
  name: 'discrepancies',
  sql: `
CREATE TABLE discrepancies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline TEXT NOT NULL,
  key TEXT NOT NULL,
  source_key TEXT,
  class TEXT NOT NULL,
  status TEXT NOT NULL,
  fields TEXT NOT NULL,
  source_doc TEXT,
  target_doc TEXT,
  error TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  closed_at INTEGER,
  run_id TEXT NOT NULL,
  assignee TEXT,
  reason TEXT,
  repair_job TEXT
);
CREATE UNIQUE INDEX discrepancies_live ON discrepancies (pipeline, key) WHERE status IN ('open', 'ignored', 'repairing');
CREATE INDEX discrepancies_status ON discrepancies (pipeline, status, id);
`,
};
