/**
 * Durations in config: `250ms`, `5s`, `10m`, `1h`, `1d`, compounds like `1m30s`, or a plain
 * number of milliseconds. Pure; no I/O.
 */
import { ConfigError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SEGMENT = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;

/** A duration as written in config: milliseconds as a number, or a string with units. */
export type DurationInput = string | number;

/**
 * Parse a duration into whole milliseconds.
 * @example parseDuration('5s') // 5000
 * @example parseDuration('1m30s') // 90000
 * @example parseDuration(250) // 250
 * @throws ConfigError quoting the bad value and the accepted forms.
 */
export function parseDuration(value: DurationInput): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw badDuration(value);
    return Math.round(value);
  }
  if (typeof value !== 'string') throw badDuration(value);
  const text = value.trim();
  if (text === '') throw badDuration(value);
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text));
  let total = 0;
  let pos = 0;
  SEGMENT.lastIndex = 0;
  while (pos < text.length) {
    SEGMENT.lastIndex = pos;
    const m = SEGMENT.exec(text);
    if (!m) throw badDuration(value);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = SEGMENT.lastIndex;
    while (text[pos] === ' ') pos++;
  }
  return Math.round(total);
}

/** True when {@link parseDuration} would accept the value. */
export function isDuration(value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds back to the shortest readable form: 90000 -> `1m30s`, 250 -> `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

function badDuration(value: unknown): ConfigError {
  return new ConfigError(
    `invalid duration ${JSON.stringify(value)}; use milliseconds as a number or a number with a unit ms, s, m, h or d (e.g. 250ms, 5s, 10m, 1h, 1m30s)`,
  );
}
