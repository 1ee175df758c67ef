/**
 * `hms-sync validate`'s check of the state store, without changing it: reachable, writable by
 * this user, and its schema version known to this hms-sync (pending migrations are a note: `run`
 * applies them). A store that does not exist yet passes when it can be created.
 */
import { constants, existsSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { errorMessage } from '../core/errors.js';
import { redactUrl } from '../core/log.js';
import { latestVersion } from '../store/migrations/migration.js';
import { POSTGRES_MIGRATIONS } from '../store/migrations/postgres-migrations.js';
import { SQLITE_MIGRATIONS } from '../store/migrations/sqlite-migrations.js';
import { openDatabase } from '../store/sqlite/sqlite-driver.js';
import { parseStoreUrl } from '../store/open-store.js';

export interface StoreCheck {
  /** The store, secrets redacted. */
  store: string;
  ok: boolean;
  /** What was found (ok) or what is wrong and how to fix it. */
  message: string;
  /** Schema version found (0: no store yet). */
  version?: number;
  /** Schema version this hms-sync expects. */
  expected: number;
}

/** Check the store a URL names (`sqlite:/abs/file.db`, `sqlite::memory:` or `postgres://...`). */
export async function checkStore(url: string): Promise<StoreCheck> {
  const parsed = parseStoreUrl(url);
  if (parsed.dialect === 'sqlite') return checkSqliteStore(parsed.file, url);
  return checkPostgresStore(parsed.connectionString, parsed.schema ?? 'hms_sync', url);
}

function versionVerdict(where: string, found: number, expected: number): { ok: boolean; message: string } {
  if (found > expected) return { ok: false, message: `${where} has schema version ${found}, newer than this hms-sync supports (${expected}); upgrade hms-sync` };
  if (found === 0) return { ok: true, message: `${where} is reachable and writable; it has no hms-sync tables yet (run creates them)` };
  if (found < expected) return { ok: true, message: `${where} is reachable and writable, at schema version ${found}; run applies ${expected - found} pending migration(s) to ${expected}` };
  return { ok: true, message: `${where} is reachable and writable, schema version ${found} (current)` };
}

async function checkSqliteStore(file: string, url: string): Promise<StoreCheck> {
  const expected = latestVersion(SQLITE_MIGRATIONS);
  const store = redactUrl(url);
  if (file === ':memory:') return { store, ok: true, message: 'in-memory SQLite store (its state is lost when the process ends)', expected };
  const abs = path.resolve(file);
  const where = `SQLite store ${abs}`;
  const fail = (message: string): StoreCheck => ({ store, ok: false, message, expected });
  if (!existsSync(abs)) {
    // the nearest existing folder must be a writable directory: run creates the rest
    let dir = path.dirname(abs);
    while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    if (!statSync(dir).isDirectory()) return fail(`${where} cannot be created: ${dir} is a file, not a folder; fix \`store:\``);
    try {
      await access(dir, constants.W_OK | constants.X_OK);
    } catch {
      return fail(`${where} cannot be created: the folder ${dir} is not writable by this user; fix \`store:\` or the folder's permissions`);
    }
    const folder = dir === path.dirname(abs) ? '' : ` and its folder ${path.dirname(abs)}`;
    return { store, ok: true, message: `${where} does not exist yet; run creates it${folder}`, version: 0, expected };
  }
  if (!statSync(abs).isFile()) return fail(`${where} is not a file; fix \`store:\``);
  for (const [target, what] of [[abs, 'the file'], [path.dirname(abs), 'its folder (SQLite writes its -wal and -shm files there)']] as const) {
    try {
      await access(target, constants.R_OK | constants.W_OK);
    } catch {
      return fail(`${where} is not writable: ${what} is read-only for this user; fix the permissions or \`store:\``);
    }
  }
  let db;
  try {
    db = openDatabase(abs, { readonly: true, fileMustExist: true });
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hms_migrations'").get();
    const found = has ? (db.prepare('SELECT coalesce(max(version), 0) AS v FROM hms_migrations').get() as { v: number }).v : 0;
    return { store, ...versionVerdict(where, found, expected), version: found, expected };
  } catch (e) {
    return fail(`${where} cannot be read: ${errorMessage(e)} (is it an SQLite database?)`);
  } finally {
    db?.close();
  }
}

async function checkPostgresStore(connectionString: string, schema: string, url: string): Promise<StoreCheck> {
  const expected = latestVersion(POSTGRES_MIGRATIONS);
  const store = redactUrl(url);
  const where = `PostgreSQL store ${store} (schema ${schema})`;
  const fail = (message: string): StoreCheck => ({ store, ok: false, message, expected });
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (e) {
      return fail(`cannot connect to the ${where}: ${errorMessage(e)}`);
    }
    const facts = (await client.query<{ recovery: boolean; ro: string; user: string; hasSchema: boolean; hasTable: boolean; createInDb: boolean }>(
      `SELECT pg_is_in_recovery() AS recovery, current_setting('default_transaction_read_only') AS ro, current_user AS user,
              EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS "hasSchema",
              EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'hms_migrations') AS "hasTable",
              has_database_privilege(current_database(), 'CREATE') AS "createInDb"`, [schema])).rows[0]!;
    if (facts.recovery) return fail(`the ${where} is a read-only standby (pg_is_in_recovery); point \`store:\` at the primary`);
    if (facts.ro === 'on') return fail(`the ${where} is read-only for this session (default_transaction_read_only = on)`);
    if (!facts.hasSchema) {
      if (!facts.createInDb) return fail(`the ${where} does not exist and user ${facts.user} may not create it: GRANT CREATE ON DATABASE <db> TO ${facts.user}, or create the schema for it`);
      return { store, ...versionVerdict(where, 0, expected), version: 0, expected };
    }
    const priv = (await client.query<{ create: boolean; write: boolean | null }>(
      `SELECT has_schema_privilege($1, 'CREATE') AS create,
              CASE WHEN to_regclass(format('%I.jobs', $1)) IS NULL THEN NULL ELSE has_table_privilege(format('%I.jobs', $1), 'INSERT, UPDATE, DELETE') END AS write`, [schema])).rows[0]!;
    if (priv.write === false) return fail(`user ${facts.user} may not write the jobs table of the ${where}: GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${facts.user}`);
    const found = facts.hasTable ? (await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${quoteIdent(schema)}.hms_migrations`)).rows[0]!.v : 0;
    if (found < expected && !priv.create) return fail(`the ${where} needs ${expected - found} migration(s) but user ${facts.user} may not create tables in schema ${schema}: GRANT CREATE ON SCHEMA ${schema} TO ${facts.user}`);
    return { store, ...versionVerdict(where, found, expected), version: found, expected };
  } catch (e) {
    return fail(`cannot check the ${where}: ${errorMessage(e)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
