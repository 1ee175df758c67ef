import type { Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import { actor, printJson, withStore } from './common.js';
import { EXIT } from './exit-codes.js';

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('prune')
    .description('Delete delivered (done) jobs older than a given age; pending, running and dead jobs are never touched')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--older-than <duration>', 'age of the done jobs to delete, e.g. 7d, 12h', '7d')
    .option('--store <url>', 'state store URL instead of the config\'s')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nRun it from cron, e.g. daily: hms-sync prune hms-sync.yaml --older-than 14d\n')
    .action(async (configArg: string | undefined, opts: { olderThan: string; store?: string; json?: boolean }) => {
      let ms: number;
      try {
        ms = parseDuration(opts.olderThan);
      } catch (err) {
        throw new UsageError(`--older-than: ${(err as Error).message}`);
      }
      await withStore({ store: opts.store, config: configArg }, setCode, async (store) => {
        const deleted = await store.prune(ms);
        await store.audit({ actor: actor(), action: 'prune', jobId: null, details: { olderThanMs: ms, deleted } });
        if (opts.json) printJson({ deleted, olderThanMs: ms });
        else process.stdout.write(`deleted ${deleted} done job${deleted === 1 ? '' : 's'} older than ${opts.olderThan}\n`);
        setCode(EXIT.OK);
      });
    });
}
