/**
 * Logging for a polling loop that keeps failing: the first failure is a warning, the same
 * failure again is logged at most once a minute (or when its reason changes), recovery is logged.
 */
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

export class FailureLog {
  private run: { message: string; count: number; loggedAt: number } | null = null;

  /** @param what e.g. `poll of legacy.INSPECTIONS` */
  constructor(private readonly logger: Logger, private readonly what: string, private readonly fields: Record<string, unknown> = {}, private readonly retryMs = 0) {}

  /** Failed attempts in the current run (0 after a success). */
  get count(): number {
    return this.run?.count ?? 0;
  }

  failed(err: unknown): void {
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
    if (!this.run) return;
    this.logger.info({ ...this.fields, failures: this.run.count }, `${this.what} works again after ${this.run.count} failed attempt(s)`);
    this.run = null;
  }
}
