/**
 * The better-sqlite3 adapter behind {@link SqliteDatabase}: the only module that imports the
 * driver package (through `#better-sqlite3`, which picks version 12 or 13 for the running Node,
 * see lib/sqlite-package.cjs). better-sqlite3's Database already has the shape of the interface;
 * the assignment below is what checks that.
 */
import Database from '#better-sqlite3';
import type { SqliteDatabase, SqliteOpenOptions } from './sqlite-driver.js';

export function openBetterSqlite3(file: string, opts: SqliteOpenOptions = {}): SqliteDatabase {
  const db: SqliteDatabase = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.fileMustExist ?? false, timeout: opts.timeout ?? 5000 });
  return db;
}
