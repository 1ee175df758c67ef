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
CREATE TABLE {{schema}}.echo_intents (
  id bigserial PRIMARY KEY,
  reader text NOT NULL,
  key text NOT NULL,
  writer text NOT NULL,
  fields jsonb,
  state jsonb,
  created_at bigint NOT NULL,
  landed_at bigint
);
CREATE INDEX echo_intents_reader_key ON {{schema}}.echo_intents (reader, key, id);
CREATE INDEX echo_intents_created ON {{schema}}.echo_intents (created_at);
DELETE FROM {{schema}}.shadow WHERE scope LIKE 'written:%';
`,
};
