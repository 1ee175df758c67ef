/** Exit codes every command uses (documented in docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** The command ran and found a problem (invalid records, a job not found, a check failed). */
  FAILURE: 1,
  /** Wrong arguments or options. */
  USAGE: 2,
  /** The configuration file is invalid. */
  CONFIG: 3,
  /**
   * A system (database, endpoint) could not be reached, a pipeline's source cannot start (a
   * permanent problem; `run` without --keep-going), the state store cannot be reached, opened or
   * created, or an address to listen on is taken.
   */
  UNREACHABLE: 4,
  /** An operator action was refused by a safety check (e.g. `dlq replay` over newer delivered state; `--force` overrides), or `run` on an SQLite store whose source another live process reads. */
  REFUSED: 5,
  /** Interrupted by SIGINT/SIGTERM after a clean shutdown: 130 like a shell. */
  INTERRUPTED: 130,
  /** A bug. */
  INTERNAL: 70,
} as const;
