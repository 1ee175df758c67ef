/**
 * The database handle trigger capture needs: queries, statements without rows, one
 * transaction of statements, and the database's dialect object (its trigger DDL pieces).
 * Each database folder opens its own (`openSqliteTriggerDb`, `openPostgresTriggerDb`,
 * `openMariadbTriggerDb`) and offers it as `openTriggerDb` on its connector descriptor, so this
 * folder never imports the database folders.
 */
import type { SqlDialect, SqlDialectName } from '../sql/sql-dialect.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';

export type TriggerDialect = SqlDialectName;

export interface TriggerDb extends SqlQueryPort {
  /** The database's name (`sqlite`, `postgres`, `mariadb`), for messages and results. */
  readonly dialect: TriggerDialect;
  /** The database's dialect object: quoting, placeholders and the trigger DDL pieces. */
  readonly sql: SqlDialect;
  exec(sql: string, params?: unknown[]): Promise<void>;
  /** Run statements in one transaction (DDL on PostgreSQL and SQLite is transactional; not on MariaDB). */
  transaction(statements: string[]): Promise<void>;
  close(): Promise<void>;
}
