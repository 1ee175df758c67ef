/**
 * Retry backoff policy: exponential growth, a cap, and FULL jitter (a uniformly random delay
 * between 0 and the capped exponential), so retries of many failing keys spread out instead
 * of hammering a recovering target in waves. Pure; no I/O.
 */
import { ConfigError } from './errors.js';
import { formatDuration, parseDuration, type DurationInput } from './duration.js';

export interface BackoffPolicy {
  /** Ceiling of the first retry delay, in ms. */
  initialMs: number;
  /** Cap of any delay, in ms. */
  maxMs: number;
  /** Growth per attempt (>= 1). */
  factor: number;
}

/** `exponential 1s..10m` (factor 2) — the default retry policy. */
export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 1000, maxMs: 600_000, factor: 2 });

/** Smallest delay returned when the policy is not zero, so a retry never spins. */
export const BACKOFF_FLOOR_MS = 10;

/** The config forms of a backoff policy. */
export type BackoffInput = string | { initial: DurationInput; max: DurationInput; factor?: number };

const EXPONENTIAL = /^exponential\s+(\S+?)\s*\.\.\s*(\S+?)(?:\s+(?:x|factor\s*)(\d+(?:\.\d+)?))?$/i;
const FIXED = /^(?:fixed|constant)\s+(\S+)$/i;

/**
 * Parse a backoff policy.
 * Strings: `exponential <initial>..<max>` (factor 2), `exponential 1s..10m x3` (factor 3),
 * `fixed 5s` (always 5s ceiling). Objects: `{ initial: 1s, max: 10m, factor: 2 }`.
 * @example parseBackoff('exponential 1s..10m') // { initialMs: 1000, maxMs: 600000, factor: 2 }
 * @throws ConfigError quoting the bad value and the accepted forms.
 */
export function parseBackoff(input: BackoffInput): BackoffPolicy {
  let policy: BackoffPolicy;
  if (typeof input === 'string') {
    const text = input.trim();
    const exp = EXPONENTIAL.exec(text);
    const fixed = FIXED.exec(text);
    if (exp) {
      policy = { initialMs: durationIn(exp[1]!, input), maxMs: durationIn(exp[2]!, input), factor: exp[3] ? Number(exp[3]) : 2 };
    } else if (fixed) {
      const ms = durationIn(fixed[1]!, input);
      policy = { initialMs: ms, maxMs: ms, factor: 1 };
    } else {
      throw badBackoff(input);
    }
  } else if (input && typeof input === 'object') {
    policy = {
      initialMs: durationIn(input.initial, input),
      maxMs: durationIn(input.max, input),
      factor: input.factor ?? 2,
    };
  } else {
    throw badBackoff(input);
  }
  if (!Number.isFinite(policy.factor) || policy.factor < 1) {
    throw new ConfigError(`invalid backoff factor ${JSON.stringify(policy.factor)}; the factor must be a number >= 1`);
  }
  if (policy.maxMs < policy.initialMs) {
    throw new ConfigError(`invalid backoff ${JSON.stringify(input)}: the cap (${policy.maxMs} ms) is below the initial delay (${policy.initialMs} ms)`);
  }
  return policy;
}

/**
 * Delay before the next try, after `attempt` attempts so far (1-based: after the first
 * failure, attempt = 1). Full jitter: `random() * min(max, initial * factor^(attempt-1))`,
 * never below {@link BACKOFF_FLOOR_MS} (or the ceiling itself when that is smaller) unless
 * the policy is all zero.
 * @example computeBackoff(3, DEFAULT_BACKOFF, () => 0.5) // 2000 (half of 4s)
 */
export function computeBackoff(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  const exp = policy.initialMs * Math.pow(policy.factor, n - 1);
  const ceiling = Math.min(policy.maxMs, Number.isFinite(exp) ? exp : policy.maxMs);
  const r = Math.min(1, Math.max(0, random()));
  const delay = Math.round(r * ceiling);
  return Math.max(delay, Math.min(BACKOFF_FLOOR_MS, ceiling));
}

/** A policy back in its config form, for messages and docs: `exponential 1s..10m`. */
export function formatBackoff(p: BackoffPolicy): string {
  const fmt = formatDuration;
  if (p.factor === 1 && p.initialMs === p.maxMs) return `fixed ${fmt(p.initialMs)}`;
  return `exponential ${fmt(p.initialMs)}..${fmt(p.maxMs)}${p.factor === 2 ? '' : ` x${p.factor}`}`;
}

function durationIn(value: DurationInput, whole: unknown): number {
  try {
    return parseDuration(value);
  } catch {
    throw badBackoff(whole);
  }
}

function badBackoff(input: unknown): ConfigError {
  return new ConfigError(
    `invalid backoff ${JSON.stringify(input)}; use "exponential <initial>..<max>" (e.g. "exponential 1s..10m", optional " x3" factor), "fixed 5s", or { initial: 1s, max: 10m, factor: 2 }`,
  );
}
