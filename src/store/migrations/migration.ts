/** One numbered, forward-only schema migration. Applied migrations are recorded in `hms_migrations`. */
export interface Migration {
  /** 1, 2, 3...: applied in order, never edited once released (add a new one instead). */
  version: number;
  name: string;
  /** SQL text; `{{schema}}` is replaced by the quoted schema name (PostgreSQL only). */
  sql: string;
}

/** The highest version in a list of migrations (the schema version a store expects). */
export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((m, x) => Math.max(m, x.version), 0);
}
