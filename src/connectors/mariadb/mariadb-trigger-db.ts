/** The MariaDB / MySQL handle of trigger capture (../triggers/trigger-db.ts). */
import type { TriggerDb } from '../triggers/trigger-db.js';
import { mariadbDialect } from './mariadb-dialect.js';
import { fromMariadbPool, openMariadbPool, type MariadbSystem } from './mariadb-port.js';

/** Open the trigger handle of a MariaDB system. */
export function openMariadbTriggerDb(cfg: MariadbSystem): TriggerDb {
  const port = fromMariadbPool(openMariadbPool(cfg, { connectionLimit: 2 }));
  return {
    dialect: 'mariadb',
    sql: mariadbDialect,
    quoteIdent: port.quoteIdent,
    query: port.query,
    async exec(sql, params = []) {
      await port.exec(sql, params);
    },
    async transaction(statements) {
      for (const s of statements) await port.exec(s); // DDL commits implicitly on MariaDB
    },
    close: port.close,
  };
}
