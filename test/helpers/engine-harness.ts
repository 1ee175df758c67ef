/** Builds engines over real stores (SQLite file or a PostgreSQL schema) from YAML text. */
import path from 'node:path';
import pg from 'pg';
import { configError, parseConfig } from '../../src/config/load-config.js';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/core/log.js';
import { PG_URL, uniqueName } from './services.js';

export const STORES = (process.env.HMS_TEST_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean);

export interface StoreTarget {
  url: string;
  cleanup(): Promise<void>;
}

/** A fresh store URL for one test: a SQLite file in `dir`, or its own PostgreSQL schema. */
export function storeUrl(dialect: string, dir: string): StoreTarget {
  if (dialect === 'sqlite') return { url: `sqlite:${path.join(dir, `state-${Math.random().toString(36).slice(2, 8)}.db`)}`, cleanup: async () => {} };
  const schema = uniqueName('eng');
  return {
    url: `${PG_URL}?schema=${schema}`,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

export function engineFromYaml(yaml: string, opts: { file?: string; idlePollMs?: number } = {}): Engine {
  const { config, issues } = parseConfig(yaml, { file: opts.file, env: process.env });
  if (!config) throw configError(issues);
  return createEngine({ config, logger: silentLogger(), idlePollMs: opts.idlePollMs ?? 50 });
}
