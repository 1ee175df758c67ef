import type { Migration } from '../migration.js';

/** Queue, shadow store, source positions and audit log (SQLite). Times are epoch milliseconds. */
export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused, so idempotency keys stay unique after prune
  pipeline TEXT NOT NULL,
  target TEXT NOT NULL,
  key TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  max_run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_error TEXT,
  lease_until INTEGER,
  locked_by TEXT
);
-- Per-key head lookups (claim rule, coalescing): only unfinished jobs are indexed.
CREATE INDEX jobs_key_unfinished ON jobs (pipeline, key, id) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_key_running ON jobs (pipeline, key) WHERE state = 'running';
-- Claim scan order and nextRunAt.
CREATE INDEX jobs_pending_run_at ON jobs (run_at, id) WHERE state = 'pending';
-- Expired leases (crashed workers).
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
-- Dead letters (rare rows: a cheap index for dlq list).
CREATE INDEX jobs_dead ON jobs (pipeline, id) WHERE state = 'dead';

CREATE TABLE shadow (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  doc TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;

CREATE TABLE positions (
  source TEXT PRIMARY KEY,
  position TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  job_id TEXT,
  details TEXT NOT NULL
);
`,
};
