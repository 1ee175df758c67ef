/** Exit codes every command uses (documented in docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** The command ran and found a problem (invalid records, a job not found, a check failed). */
  FAILURE: 1,
  /** Wrong arguments or options. */
  USAGE: 2,
  /** The configuration file is invalid. */
  CONFIG: 3,
  /** A system (database, endpoint) could not be reached. */
  UNREACHABLE: 4,
  /** An operator action was refused by a safety check (e.g. `dlq replay` over newer delivered state; `--force` overrides). */
  REFUSED: 5,
  /** Interrupted by SIGINT/SIGTERM after a clean shutdown: 130 like a shell. */
  INTERRUPTED: 130,
  /** A bug. */
  INTERNAL: 70,
} as const;
