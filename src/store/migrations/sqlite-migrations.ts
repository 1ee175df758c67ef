/** SQLite migrations, in order. Add a new numbered file for every schema change. */
import type { Migration } from './migration.js';
import { migration0001 } from './sqlite/0001-initial.js';
import { migration0002 } from './sqlite/0002-echo-intents.js';
import { migration0003 } from './sqlite/0003-dedupe-ids.js';
import { migration0004 } from './sqlite/0004-sources.js';
import { migration0005 } from './sqlite/0005-discrepancies.js';

export const SQLITE_MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005];
