import type { Command } from 'commander';
import { formatAge, printJson, printTable, shorten, withStore } from './common.js';
import { EXIT } from './exit-codes.js';

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('status')
    .description('Show the queue per pipeline and target: pending, running, retrying, dead, oldest pending age, last error')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--store <url>', 'state store URL instead of the config\'s (sqlite:./.hms-sync/state.db, postgres://...)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExit codes: 0 nothing dead, 1 some jobs are dead-lettered (see `hms-sync dlq list`) or the store does not exist, 4 the store could not be reached.\n')
    .action(async (configArg: string | undefined, opts: { store?: string; json?: boolean }) => {
      await withStore({ store: opts.store, config: configArg }, setCode, async (store) => {
        const stats = await store.stats();
        if (opts.json) printJson(stats);
        else if (!stats.length) process.stdout.write('queue is empty: no jobs recorded yet\n');
        else printTable(stats.map((s) => ({ ...s, oldest: formatAge(s.oldestPendingAgeMs), lastError: shorten(s.lastError, 80) })), ['pipeline', 'target', 'pending', 'running', 'retrying', 'dead', 'done', 'oldest', 'lastError']);
        setCode(stats.some((s) => s.dead > 0) ? EXIT.FAILURE : EXIT.OK);
      });
    });
}
