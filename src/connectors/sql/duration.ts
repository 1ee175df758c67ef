/**
 * Duration options of connectors (`'5s'`, `'10m'`, `'1m30s'` or milliseconds), kept as written
 * in config and converted with core/duration.ts when the connector starts.
 */
import { z } from 'zod';
import { isDuration, parseDuration as parseCoreDuration, type DurationInput } from '../../core/duration.js';
import { ConfigError } from '../../core/errors.js';

/** Zod schema for a duration option (`'5s'`, `'10m'`, or milliseconds as a number). */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z.string().refine(isDuration, 'expected a duration such as "500ms", "5s", "10m" or "1h"'),
]);

/**
 * Milliseconds of a duration option; `field` names the option in the error.
 * @example parseDuration('5s', 'poll') // => 5000
 */
export function parseDuration(value: DurationInput | undefined, field: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`option "${field}" is required: a duration such as "5s"`, { path: field });
  }
  try {
    return parseCoreDuration(value);
  } catch (err) {
    throw new ConfigError(`option "${field}" has the invalid duration ${JSON.stringify(value)}; expected e.g. "500ms", "5s", "10m", "1h"`, { path: field, cause: err });
  }
}

export { sleep } from '../../core/sleep.js';
