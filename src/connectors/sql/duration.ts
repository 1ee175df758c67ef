/**
 * Durations in connector options: `250ms`, `5s`, `10m`, `1h`, or a number of milliseconds.
 * Kept as the written value in config (so JSON Schema and error messages show what the user
 * typed) and converted with {@link parseDuration} when the connector starts.
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Zod schema for a duration option (`'5s'`, `'10m'`, or milliseconds as a number). */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(DURATION_RE, 'expected a duration such as "500ms", "5s", "10m" or "1h"'),
]);

export type Duration = z.infer<typeof durationSchema>;

/**
 * Milliseconds of a duration option; `field` names the option in the error.
 * @example parseDuration('5s', 'poll') // => 5000
 */
export function parseDuration(value: Duration | undefined, field: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`option "${field}" is required: a duration such as "5s"`, { path: field });
  }
  if (typeof value === 'number') return value;
  const m = DURATION_RE.exec(value.trim());
  if (!m) throw new ConfigError(`option "${field}" has the invalid duration ${JSON.stringify(value)}; expected e.g. "500ms", "5s", "10m", "1h"`, { path: field });
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** Resolves after `ms`, or at once (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
