/**
 * Logging for a polling loop that keeps failing: the first failure is a warning, the same
 * failure again is logged at most once a minute (or when its reason changes), recovery is logged.
 */
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

export class FailureLog {
  private run: { message: string; count: number; loggedAt: number } | null = null;

  /** @param what e.g. `poll of legacy.INSPECTIONS` */
  /** @param health the source context's health reporter: told of every failure and success */
  constructor(private readonly logger: Logger, private readonly what: string, private readonly fields: Record<string, unknown> = {}, private readonly retryMs = 0, private readonly health?: { ok(): void; failed(err: unknown): void }) {}

  /** Failed attempts in the current run (0 after a success). */
  get count(): number {
    return this.run?.count ?? 0;
  }

  failed(err: unknown): void {
    this.health?.failed(err);
    const message = errorMessage(err);
    const now = Date.now();
    const r = this.run;
    if (r && r.message === message && now - r.loggedAt < 60_000) {
      r.count++;
      return;
    }
    this.run = { message, count: (r?.count ?? 0) + 1, loggedAt: now };
    this.logger.warn({ ...this.fields, err: message, failures: this.run.count }, `${this.what} failed; retrying every ${this.retryMs} ms: ${message}`);
  }

  succeeded(): void {
    this.health?.ok();
    if (!this.run) return;
    this.logger.info({ ...this.fields, failures: this.run.count }, `${this.what} works again after ${this.run.count} failed attempt(s)`);
    this.run = null;
  }
}
