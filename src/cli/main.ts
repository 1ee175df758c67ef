/**
 * hms-sync command line. Each command lives in its own file under src/cli/ and exports a
 * `register(program)` function; this file only gathers them.
 * Exit codes: 0 ok, 1 failure (e.g. validation found errors, a job not found), 2 usage error,
 * 3 configuration error, 4 a system could not be reached, 5 refused by a safety check, 70 internal error.
 */
import { Command, CommanderError } from 'commander';
import { HmsError } from '../core/errors.js';
import { EXIT } from './exit-codes.js';
import { register as registerCopybook } from './copybook.js';
import { register as registerRun } from './run.js';
import { register as registerValidate } from './validate.js';
import { register as registerStatus } from './status.js';
import { register as registerDlq } from './dlq.js';
import { register as registerJobs } from './jobs.js';
import { register as registerPrune } from './prune.js';
import { register as registerNew } from './new.js';
import { register as registerDemo } from './demo.js';
import { register as registerTriggers } from './triggers.js';
import { register as registerBackfill } from './backfill.js';
import { register as registerReconcile } from './reconcile.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('hms-sync')
    .description('Keep legacy systems and modern platforms eventually identical, in both directions, within seconds, with nothing lost.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  let code: number = EXIT.OK;
  const setCode = (c: number) => { code = c; };
  for (const register of [registerDemo, registerRun, registerValidate, registerStatus, registerJobs, registerDlq, registerPrune, registerNew, registerCopybook, registerTriggers, registerBackfill, registerReconcile]) register(program, setCode);
  if (!argv.length) {
    // `hms-sync` alone: the overview on stdout (so `hms-sync | less` works), exit 0
    process.stdout.write(program.helpInformation());
    return EXIT.OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    // with --json a script reads the failure from stdout too: { "error": { code, message, exitCode, ... } }
    const asJson = argv.includes('--json');
    if (err instanceof HmsError) {
      process.stderr.write(`hms-sync: ${err.message}\n`);
      const byCode: Partial<Record<string, number>> = { HMS_ERR_CONFIG: EXIT.CONFIG, HMS_ERR_USAGE: EXIT.USAGE, HMS_ERR_NOT_CONNECTED: EXIT.UNREACHABLE, HMS_ERR_REFUSED: EXIT.REFUSED, HMS_ERR_STORE: EXIT.UNREACHABLE, HMS_ERR_STORE_UNWRITABLE: EXIT.UNREACHABLE, HMS_ERR_SOURCE: EXIT.UNREACHABLE };
      const exitCode = byCode[err.code] ?? EXIT.FAILURE;
      if (asJson) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message, exitCode, ...(err.details ? { details: err.details } : {}) } })}\n`);
      return exitCode;
    }
    process.stderr.write(`hms-sync: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    if (asJson) process.stdout.write(`${JSON.stringify({ error: { code: 'HMS_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err), exitCode: EXIT.INTERNAL } })}\n`);
    return EXIT.INTERNAL;
  }
}
