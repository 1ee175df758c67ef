import type { Migration } from '../migration.js';

/**
 * Who reads each source, and how it is doing. One row per source (`pipeline:<name>`): the lease
 * (holder, its host and pid, heartbeat and expiry in the server's clock; a holder that stops
 * heartbeating loses it when it expires, so a standby can take over) and the source's health
 * (state, since when, last error), written by the holder only. `store_probe` is one row a write
 * probe updates (`status`).
 */
export const migration0004: Migration = {
  version: 4,
  name: 'sources',
  sql: `
CREATE TABLE {{schema}}.sources (
  source text PRIMARY KEY,
  pipeline text NOT NULL,
  holder text,
  holder_host text,
  holder_pid integer,
  acquired_at bigint,
  heartbeat_at bigint,
  expires_at bigint,
  state text NOT NULL DEFAULT 'stopped',
  state_since bigint,
  error text,
  fail_after_ms bigint,
  updated_at bigint NOT NULL
);
CREATE TABLE {{schema}}.store_probe (
  id integer PRIMARY KEY CHECK (id = 1),
  written_at bigint NOT NULL,
  writer text
);
`,
};
