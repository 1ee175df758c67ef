/**
 * A state store that cannot take writes for a while (disk full, read-only, server gone) is waited
 * for, not treated as a failure of the source or the sink: capture probes it (capture.ts), and
 * recording delivery results is retried until it lands, so nothing waits for a lease or a backoff
 * once the store writes again.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { sleep } from '../core/sleep.js';

/** Errors of a store that cannot take writes now (full, read-only, gone), as opposed to a bad commit. */
const STORE_DOWN_CODES = /^(SQLITE_(FULL|READONLY|IOERR|CANTOPEN|BUSY|LOCKED|PROTOCOL)\w*|ENOSPC|EROFS|EIO|53\d{3}|25006|57P0\d|08\d{3}|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/;

export function isStoreUnavailable(err: unknown): boolean {
  for (let e: unknown = err, n = 0; e && n < 5; e = (e as { cause?: unknown }).cause, n++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STORE_DOWN_CODES.test(code)) return true;
    if (/Connection terminated|database or disk is full|readonly database|disk I\/O error/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

function isLockContention(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/** Retry `write` every 250 ms while it fails because the store cannot write (full, read-only, gone; other errors, and lock contention, are thrown); logs the first such failure in one line. */
export async function retryWhileStoreDown<T>(write: () => Promise<T>, logger: Logger, what: string, signal: AbortSignal): Promise<T> {
  let logged = false;
  for (;;) {
    try {
      const r = await write();
      if (logged) logger.info(`the state store can write again: ${what} recorded`);
      return r;
    } catch (err) {
      // lock contention (another process holds the write lock past the busy timeout) keeps its
      // old handling: the jobs stay running and are delivered again when their lease expires
      if (!isStoreUnavailable(err) || isLockContention(err) || signal.aborted) throw err;
      if (!logged) logger.error({ error: errorMessage(err) }, `cannot record ${what} in the state store: ${errorMessage(err)}; retrying every 250 ms until it can write`);
      logged = true;
      await sleep(250, signal);
    }
  }
}
