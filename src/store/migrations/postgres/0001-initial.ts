import type { Migration } from '../migration.js';

/** Queue, shadow store, source positions and audit log (PostgreSQL). Times are epoch milliseconds (bigint). */
export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE {{schema}}.jobs (
  id bigserial PRIMARY KEY,
  pipeline text NOT NULL,
  target text NOT NULL,
  key text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  state text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
  payload jsonb NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  run_at bigint NOT NULL,
  max_run_at bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  last_error text,
  lease_until bigint,
  locked_by text
);
-- Per-key head lookups (claim rule, coalescing): only unfinished jobs are indexed, so these stay small.
CREATE INDEX jobs_key_unfinished ON {{schema}}.jobs (pipeline, key, id) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_key_running ON {{schema}}.jobs (pipeline, key) WHERE state = 'running';
-- Claim scan order and nextRunAt.
CREATE INDEX jobs_pending_run_at ON {{schema}}.jobs (run_at, id) WHERE state = 'pending';
-- Expired leases (crashed workers).
CREATE INDEX jobs_running_lease ON {{schema}}.jobs (lease_until) WHERE state = 'running';
-- Dead letters (rare rows).
CREATE INDEX jobs_dead ON {{schema}}.jobs (pipeline, id) WHERE state = 'dead';

CREATE TABLE {{schema}}.shadow (
  scope text NOT NULL,
  key text NOT NULL,
  fingerprint text NOT NULL,
  doc jsonb,
  updated_at bigint NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE TABLE {{schema}}.positions (
  source text PRIMARY KEY,
  position text NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE {{schema}}.audit (
  id bigserial PRIMARY KEY,
  at bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  job_id text,
  details jsonb NOT NULL
);
`,
};
