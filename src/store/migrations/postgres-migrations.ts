/** PostgreSQL migrations, in order. Add a new numbered file for every schema change. */
import type { Migration } from './migration.js';
import { migration0001 } from './postgres/0001-initial.js';
import { migration0002 } from './postgres/0002-echo-intents.js';
import { migration0003 } from './postgres/0003-dedupe-ids.js';
import { migration0004 } from './postgres/0004-sources.js';
import { migration0005 } from './postgres/0005-discrepancies.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005];
