import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import type { JobState } from '../core/types.js';
import { openStoreFor, printJson, printTable, shorten } from './common.js';
import { EXIT } from './exit-codes.js';

const STATES: JobState[] = ['pending', 'running', 'done', 'dead'];

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('jobs')
    .description('List queued jobs with their attempts, next attempt time and last error')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--store <url>', 'state store URL instead of the config\'s')
    .option('-s, --state <state>', `only jobs in this state (${STATES.join(', ')})`)
    .option('-p, --pipeline <name>', 'only this pipeline')
    .option('-n, --limit <n>', 'at most n jobs', '100')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  hms-sync jobs --state pending   # what is waiting, how often it failed, when it runs next\n')
    .action(async (configArg: string | undefined, opts: { store?: string; state?: string; pipeline?: string; limit: string; json?: boolean }) => {
      if (opts.state && !STATES.includes(opts.state as JobState)) throw new UsageError(`--state "${opts.state}" is not a job state; valid states are ${STATES.join(', ')}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit "${opts.limit}" must be a positive whole number`);
      const store = await openStoreFor({ store: opts.store, config: configArg });
      try {
        const jobs = await store.listJobs({ state: opts.state as JobState | undefined, pipeline: opts.pipeline, limit });
        if (opts.json) printJson(jobs);
        else if (!jobs.length) process.stdout.write('no jobs\n');
        else printTable(jobs.map((j) => ({
          id: j.id, pipeline: j.pipeline, key: j.key, op: j.payload.op, state: j.state, version: j.version,
          attempts: `${j.attempts}/${j.maxAttempts}`,
          nextRun: j.state === 'pending' ? new Date(j.runAt).toISOString() : null,
          // a done job's last error is history (a retry that later succeeded), not its current state
          lastError: j.lastError ? (j.state === 'done' ? shorten(`(earlier) ${j.lastError}`, 70) : shorten(j.lastError, 70)) : null,
        })), ['id', 'pipeline', 'key', 'op', 'state', 'version', 'attempts', 'nextRun', 'lastError']);
        setCode(EXIT.OK);
      } finally {
        await store.close();
      }
    });
}
