import type { Migration } from '../migration.js';

/**
 * Delivery ids a source has already taken (webhook-id of Standard Webhooks) in their own table;
 * they were shadow rows keyed `#webhook-id:<id>`, mixed with the records. Moved over as they are.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'dedupe-ids',
  sql: `
CREATE TABLE dedupe_ids (
  scope TEXT NOT NULL,
  id TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (scope, id)
);
CREATE INDEX dedupe_ids_seen ON dedupe_ids (scope, seen_at);
INSERT INTO dedupe_ids (scope, id, seen_at) SELECT scope, substr(key, 13), updated_at FROM shadow WHERE key LIKE '#webhook-id:%';
DELETE FROM shadow WHERE key LIKE '#webhook-id:%';
`,
};
