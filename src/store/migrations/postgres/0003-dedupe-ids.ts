import type { Migration } from '../migration.js';

/**
 * Delivery ids a source has already taken (webhook-id of Standard Webhooks) in their own table;
 * they were shadow rows keyed `#webhook-id:<id>`, mixed with the records. Moved over as they are.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'dedupe-ids',
  sql: `
CREATE TABLE {{schema}}.dedupe_ids (
  scope text NOT NULL,
  id text NOT NULL,
  seen_at bigint NOT NULL,
  PRIMARY KEY (scope, id)
);
CREATE INDEX dedupe_ids_seen ON {{schema}}.dedupe_ids (scope, seen_at);
INSERT INTO {{schema}}.dedupe_ids (scope, id, seen_at) SELECT scope, substr(key, 13), updated_at FROM {{schema}}.shadow WHERE key LIKE '#webhook-id:%';
DELETE FROM {{schema}}.shadow WHERE key LIKE '#webhook-id:%';
`,
};
