/**
 * The SQLite driver hms-sync uses, as structural types: only the subset of better-sqlite3's API
 * that the store, the bulk writer, the SQLite connector, the demo and the tests call. Everything
 * outside src/store/sqlite/better-sqlite3-driver.ts depends on these types, not on
 * better-sqlite3, so another synchronous driver (node:sqlite's DatabaseSync, once it is stable)
 * can replace it behind {@link openDatabase}; docs/store.md says what that takes.
 */
import { openBetterSqlite3 } from './better-sqlite3-driver.js';

/** What `run` reports: rows changed and the rowid of the last insert. */
export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement. Parameters are positional values (`?`), an array of them, or one object
 * of named values (`@name`); the driver binds them as given.
 */
export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  /** The first row as an object, or undefined. */
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** Read integers as BigInt (true) or numbers (false, the default) from this statement. */
  safeIntegers(on?: boolean): this;
  /** Whether the statement returns rows. */
  readonly reader: boolean;
}

/** A function wrapped in a transaction (BEGIN ... COMMIT, ROLLBACK when it throws; nested: a savepoint). */
export interface SqliteTransaction<A extends unknown[], R> {
  (...args: A): R;
  /** The same in BEGIN IMMEDIATE: takes the write lock up front. */
  immediate(...args: A): R;
  deferred(...args: A): R;
  exclusive(...args: A): R;
}

/** An open connection. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  /** Run one or more statements without parameters or results. */
  exec(sql: string): unknown;
  /** `PRAGMA <source>`; `simple` returns the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqliteTransaction<A, R>;
  close(): unknown;
  readonly open: boolean;
  readonly inTransaction: boolean;
}

export interface SqliteOpenOptions {
  /** Open read-only. Default false. */
  readonly?: boolean;
  /** Fail when the file does not exist instead of creating it. Default false. */
  fileMustExist?: boolean;
  /** How long a statement waits for another connection's lock (busy timeout), ms. Default 5000. */
  timeout?: number;
}

/** Open (or create) a SQLite database file, or `:memory:`. */
export function openDatabase(file: string, opts: SqliteOpenOptions = {}): SqliteDatabase {
  return openBetterSqlite3(file, opts);
}
