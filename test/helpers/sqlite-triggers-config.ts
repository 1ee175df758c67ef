/** A config file for the usual test pipeline `items`: SQLite table `items` (trigger capture) -> SQLite table `items`. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SqliteTriggersConfig {
  dir: string;
  /** Base name: `<name>.yaml`, with the store at `<state>.db` and stateDir `<state>` (state defaults to `<name>-state`). */
  name: string;
  state?: string;
  src: string;
  dst: string;
  /** Extra source options, e.g. `poll: 20ms, batchSize: 300` (default `poll: 20ms`). */
  from?: string;
}

/** Writes the file and returns its path. */
export function writeSqliteTriggersConfig(o: SqliteTriggersConfig): string {
  const state = path.join(o.dir, o.state ?? `${o.name}-state`);
  const file = path.join(o.dir, `${o.name}.yaml`);
  writeFileSync(file, `store: sqlite:${state}.db
stateDir: ${state}
systems:
  legacy: { driver: sqlite, path: ${o.src} }
  modern: { driver: sqlite, path: ${o.dst} }
pipelines:
  items:
    from: { system: legacy, collection: items, mode: triggers, ${o.from ?? 'poll: 20ms'} }
    to: { system: modern, collection: items }
    key: id
`);
  return file;
}
