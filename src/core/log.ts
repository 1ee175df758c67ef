import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import { ConfigError } from './errors.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The logger shape the engine needs (pino's). */
export type Logger = PinoLogger;

/** Field names whose values are never logged, at any depth pino can reach. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'secret', '*.secret', '*.*.secret', 'signingSecret', '*.signingSecret', '*.*.signingSecret',
  'token', '*.token', 'authorization', '*.authorization', '*.headers.authorization', 'apiKey', '*.apiKey', 'passphrase', '*.passphrase',
  'privateKey', '*.privateKey', 'url', '*.url',
];

/**
 * Structured JSON logs on stderr (stdout stays free for --json output).
 * `url` fields are redacted because connection URLs carry passwords; log `redactUrl(url)` instead.
 */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.HMS_LOG_LEVEL ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`log level ${JSON.stringify(level)}${opts.level === undefined ? ' (from $HMS_LOG_LEVEL)' : ''} is not valid; use one of ${LEVELS.join(', ')}`);
  }
  const options: LoggerOptions = {
    name: opts.name ?? 'hms-sync',
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return pino(options, (opts.destination ?? pino.destination({ fd: 2, sync: false })) as never);
}

/** A logger that drops everything (tests, library use without logging). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@');
  }
}
