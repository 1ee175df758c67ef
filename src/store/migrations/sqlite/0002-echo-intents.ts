import type { Migration } from '../migration.js';

/**
 * Echo write intents in their own table (they were JSON lists in `shadow` rows of scope
 * `written:*`). One row per write the engine is about to make, per pipeline that watches the
 * written collection (the reader): each reader consumes its own intents, field by field.
 */
export const migration0002: Migration = {
  version: 2,
  name: 'echo-intents',
  sql: `
CREATE TABLE echo_intents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  reader TEXT NOT NULL,     -- the pipeline whose source will see the write
  key TEXT NOT NULL,        -- the key as that source computes it
  writer TEXT NOT NULL,     -- the pipeline that writes
  fields TEXT,              -- JSON object: the fields written and their values not yet seen back; NULL for a delete
  state TEXT,               -- JSON object: the full state written (compared when a change has no before image)
  created_at INTEGER NOT NULL,
  landed_at INTEGER         -- when the sink acknowledged the write (NULL: not yet, or it failed)
);
CREATE INDEX echo_intents_reader_key ON echo_intents (reader, key, id);
CREATE INDEX echo_intents_created ON echo_intents (created_at);
DELETE FROM shadow WHERE scope LIKE 'written:%';
`,
};
