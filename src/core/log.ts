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

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Logs on stderr (stdout stays free for --json output): JSON lines (pino), or, on a terminal,
 * one readable line per entry (`12:03:04.512 INFO  permits: delivered 120, ... key=value`).
 * `format` (default: $HMS_LOG_FORMAT, else `auto`): `auto` is `pretty` when stderr is a TTY and no
 * `destination` is given, else `json`. Both formats carry the same fields and redactions.
 * `url` fields are redacted because connection URLs carry passwords; log `redactUrl(url)` instead.
 */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream; format?: string } = {}): Logger {
  const level = opts.level ?? process.env.HMS_LOG_LEVEL ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`log level ${JSON.stringify(level)}${opts.level === undefined ? ' (from $HMS_LOG_LEVEL)' : ''} is not valid; use one of ${LEVELS.join(', ')}`);
  }
  const format = opts.format ?? (process.env.HMS_LOG_FORMAT || 'auto'); // set but empty = not set
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`log format ${JSON.stringify(format)}${opts.format === undefined ? ' (from $HMS_LOG_FORMAT)' : ''} is not valid; use one of ${LOG_FORMATS.join(', ')}`);
  }
  const options: LoggerOptions = {
    name: opts.name ?? 'hms-sync',
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  const pretty = format === 'pretty' || (format === 'auto' && !opts.destination && process.stderr.isTTY === true);
  if (pretty) {
    const out = opts.destination ?? process.stderr;
    const color = !opts.destination && process.stderr.isTTY === true && !process.env.NO_COLOR;
    return pino(options, { write: (line: string) => out.write(formatLogLine(line, { color })) } as never);
  }
  return pino(options, (opts.destination ?? pino.destination({ fd: 2, sync: false })) as never);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every line has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v', 'pipeline']);

/**
 * One pino JSON line as a readable line: `HH:MM:SS.mmm LEVEL [pipeline] message key=value ...`.
 * Strings with spaces are quoted, objects are JSON, an `err` shows its message (and its stack
 * only at trace level or for errors that are not HmsErrors, where it helps a bug report).
 */
export function formatLogLine(line: string, opts: { color?: boolean } = {}): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const paint = (code: string, text: string) => (opts.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const lvl = typeof rec.level === 'number' ? rec.level : 30;
  const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now());
  const time = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}:${String(t.getSeconds()).padStart(2, '0')}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const head = [paint('90', time), paint(LEVEL_COLORS[lvl] ?? '0', (LEVEL_NAMES[lvl] ?? String(lvl)).padEnd(5))];
  if (typeof rec.pipeline === 'string') head.push(paint('1', `[${rec.pipeline}]`));
  const msg = String(rec.msg ?? '');
  head.push(msg);
  const tail: string[] = [];
  let stack: string | undefined;
  for (const [k, v] of Object.entries(rec)) {
    if (HEAD_FIELDS.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; type?: unknown; code?: unknown; stack?: unknown };
      tail.push(`err=${quote(String(e.message ?? ''))}`);
      if (typeof e.stack === 'string' && (lvl >= 60 || (typeof e.code !== 'string' || !e.code.startsWith('HMS_ERR_')) && lvl >= 50)) stack = e.stack;
      continue;
    }
    const shown = typeof v === 'string' ? quote(v) : JSON.stringify(v);
    if (msg.includes(`${k} ${shown}`)) continue; // already said by the message ("delivered 120")
    tail.push(`${paint('90', `${k}=`)}${shown}`);
  }
  return `${head.join(' ')}${tail.length ? `  ${tail.join(' ')}` : ''}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`;
}

function quote(s: string): string {
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
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
