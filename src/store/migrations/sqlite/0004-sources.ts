import type { Migration } from '../migration.js';

/**
 * Who reads each source, and how it is doing. One row per source (`pipeline:<name>`): the lease
 * (holder, its host and pid, heartbeat and expiry; a holder that stops heartbeating loses it when it
 * expires, so a standby can take over) and the source's health (state, since when, last error),
 * written by the holder only. `store_probe` is one row a write probe updates (`status`).
 */
export const migration0004: Migration = {
  version: 4,
  name: 'sources',
  sql: `
CREATE TABLE sources (
  source TEXT PRIMARY KEY,
  pipeline TEXT NOT NULL,
  holder TEXT,              -- the engine (workerId) holding the lease; NULL: nobody reads it
  holder_host TEXT,
  holder_pid INTEGER,
  acquired_at INTEGER,
  heartbeat_at INTEGER,
  expires_at INTEGER,       -- the lease is free once this has passed without a heartbeat
  state TEXT NOT NULL DEFAULT 'stopped', -- starting, running, retrying, failed, stopped
  state_since INTEGER,
  error TEXT,
  fail_after_ms INTEGER,    -- the holder's sourceFailAfter (status uses it)
  updated_at INTEGER NOT NULL
);
CREATE TABLE store_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  written_at INTEGER NOT NULL,
  writer TEXT
);
`,
};
