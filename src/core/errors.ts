/**
 * One error base class with a stable `code`; a handful of subclasses steer control flow
 * (retry, dead-letter, reconnect) by type, never by message text.
 * The catalogue of codes lives in {@link ERROR_CODES}; docs/errors.md explains each one and what
 * to do (test/unit/errors.test.ts keeps the two in step).
 */
export const ERROR_CODES = {
  HMS_ERR_CONFIG: 'The configuration is invalid (file, line and field path in the message).',
  HMS_ERR_VALIDATION: 'Input data failed validation; the job is dead-lettered at once.',
  HMS_ERR_MAPPING: 'A mapping rule could not be applied to a record; the job is dead-lettered with the field path.',
  HMS_ERR_RETRYABLE: 'A transient failure (timeout, connection refused, 5xx, 429); the job is retried with backoff.',
  HMS_ERR_PERMANENT: 'A failure that retrying cannot fix (4xx, validation, fault from the client side); dead-lettered at once.',
  HMS_ERR_NOT_CONNECTED: 'The connector lost its connection; it reconnects before the next attempt.',
  HMS_ERR_INVARIANT: 'An internal invariant was broken: a bug in hms-sync; please report it.',
  HMS_ERR_NOT_FOUND: 'The named object (job, pipeline, system) does not exist.',
  HMS_ERR_STORE: 'The state store failed (SQLite or PostgreSQL).',
  HMS_ERR_STORE_UNWRITABLE: 'The state store cannot write (disk full, read-only file or server, store server gone): capture waits and resumes within a second of the store taking writes again; `status` reports it.',
  HMS_ERR_SOURCE: 'A pipeline\'s source cannot start because of a permanent problem (missing table, wal_level, binlog off, bad credentials, port in use): `run` exits 4 unless `--keep-going`.',
  HMS_ERR_FORMAT: 'A record in a legacy format (copybook, fixed width, CSV, XML) could not be decoded or encoded.',
  HMS_ERR_USAGE: 'A command was called with wrong arguments.',
  HMS_ERR_REFUSED: 'An operator action was refused because it would do harm (e.g. replaying a dead letter over newer delivered state); the message says how to force it.',
  HMS_ERR_INTERNAL: 'An unexpected error that is not an HmsError reached the CLI (exit 70): a bug in hms-sync; please report it with the stack printed on stderr.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface HmsErrorOptions {
  cause?: unknown;
  /** Extra structured context (never secrets): field path, record number, byte offset... */
  details?: Record<string, unknown>;
}

export class HmsError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, options: HmsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.details) this.details = options.details;
  }
}

export class ConfigError extends HmsError {
  constructor(message: string, options: HmsErrorOptions & { file?: string; line?: number; path?: string } = {}) {
    super('HMS_ERR_CONFIG', message, { ...options, details: { ...options.details, file: options.file, line: options.line, path: options.path } });
  }
}

/** Permanent: retrying will not help; the job is dead-lettered at once. */
export class PermanentError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_PERMANENT', message, options);
  }
}

export class ValidationError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_VALIDATION', message, options);
  }
}

export class MappingError extends HmsError {
  readonly field: string;
  constructor(field: string, message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_MAPPING', `mapping of field "${field}": ${message}`, { ...options, details: { ...options.details, field } });
    this.field = field;
  }
}

/** Transient: retried with backoff; `retryAfterMs` (e.g. from HTTP Retry-After) overrides the backoff. */
export class RetryableError extends HmsError {
  readonly retryAfterMs?: number;
  constructor(message: string, options: HmsErrorOptions & { retryAfterMs?: number } = {}) {
    super('HMS_ERR_RETRYABLE', message, options);
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

export class NotConnectedError extends RetryableError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super(message, options);
    (this as { code: ErrorCode }).code = 'HMS_ERR_NOT_CONNECTED';
  }
}

export class FormatError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_FORMAT', message, options);
  }
}

export class InvariantError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_INVARIANT', message, options);
  }
}

export class NotFoundError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_NOT_FOUND', message, options);
  }
}

/** An operator action refused by a safety check; the message names what it would harm and how to force it. */
export class RefusedError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_REFUSED', message, options);
  }
}

/** The state store could not be opened or written (the message names its path or address). */
export class StoreError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_STORE', message, options);
  }
}

/** A write to the state store failed (full, read-only, unreachable): capture waits for the store rather than backing the source off. */
export class StoreUnwritableError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_STORE_UNWRITABLE', message, options);
  }
}

/** A source that cannot start because of a permanent problem (see HMS_ERR_SOURCE). */
export class SourceFailedError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_SOURCE', message, options);
  }
}

export class UsageError extends HmsError {
  constructor(message: string, options: HmsErrorOptions = {}) {
    super('HMS_ERR_USAGE', message, options);
  }
}

const RETRYABLE_NET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET',
  'ECONNABORTED', 'ESOCKETTIMEDOUT', '57P01', '57P03', '08006', '08001', '08003', '40001', '40P01', 'SQLITE_BUSY',
]);

/**
 * Decide whether an arbitrary thrown value is worth retrying.
 * HmsError subclasses decide by type; network and database error codes count as transient;
 * anything else unknown is treated as retryable (the bounded retry count still dead-letters it).
 */
export function classifyError(err: unknown): { retryable: boolean; retryAfterMs?: number; message: string } {
  const message = errorMessage(err);
  if (err instanceof RetryableError) return { retryable: true, retryAfterMs: err.retryAfterMs, message };
  if (err instanceof HmsError) return { retryable: false, message };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_NET_CODES.has(code)) return { retryable: true, message };
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return { retryable: true, message };
  return { retryable: true, message };
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const prefix = typeof code === 'string' && !err.message.includes(code) ? `${code}: ` : '';
    return prefix + err.message;
  }
  return String(err);
}
