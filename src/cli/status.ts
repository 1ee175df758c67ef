import path from 'node:path';
import type { Command } from 'commander';
import { errorMessage } from '../core/errors.js';
import { loadConfigArg, formatAge, printJson, printTable, shorten, withStore } from './common.js';
import { EXIT } from './exit-codes.js';
import type { SourceStatus, Store } from '../store/store.js';

/** Default of the config's `sourceFailAfter` (used with --store and no config, when the source's row has none). */
const DEFAULT_FAIL_AFTER_MS = 5 * 60_000;

/** What `status` shows of one source: its recorded state, and whether that still holds. */
export interface SourceView {
  /** `running`, `starting`, `retrying`, `failed`, `stopped`, or `down` (its process stopped heartbeating without releasing it). */
  state: string;
  since: number | null;
  error: string | null;
  holder: { host: string; pid: number; engine: string } | null;
  live: boolean;
  /** Failed, retrying longer than sourceFailAfter, or down: `status` exits 1. */
  problem: boolean;
  /** When `retrying` turned into `failed` here because it lasted longer than sourceFailAfter: for how long. */
  retryingForMs?: number;
}

export function viewSource(s: SourceStatus, failAfterMs: number): SourceView {
  let state: string = s.state;
  const holder = s.holder ? { host: s.holder.host, pid: s.holder.pid, engine: s.holder.holder } : null;
  if ((state === 'running' || state === 'starting' || state === 'retrying') && s.holder && !s.live) state = 'down';
  const limit = s.failAfterMs ?? failAfterMs;
  const overdue = state === 'retrying' && s.since !== null && s.now - s.since >= limit;
  if (overdue) state = 'failed';
  return { state, since: s.since, error: s.error, holder, live: s.live, problem: state === 'failed' || state === 'down', ...(overdue ? { retryingForMs: s.now - s.since! } : {}) };
}

/** Whether the store takes a write now (full disk, read-only file or server: not). */
async function storeWrite(store: Store): Promise<{ writable: boolean; error?: string }> {
  try {
    await store.probeWrite(`status:${process.pid}`);
    return { writable: true };
  } catch (e) {
    const where = store.dialect === 'sqlite' ? `SQLite store ${path.resolve((store as unknown as { file: string }).file)}` : `PostgreSQL store, schema ${(store as unknown as { schema: string }).schema}`;
    return { writable: false, error: `${errorMessage(e)} (${where})` };
  }
}

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('status')
    .description('Show per pipeline its source (running, retrying since T with error E, failed, down; who reads it) and its queue (pending, running, retrying, dead, oldest pending age, last error), and whether the store can write')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--store <url>', 'state store URL instead of the config\'s (sqlite:./.hms-sync/state.db, postgres://...)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExit codes: 0 all well, 1 some jobs are dead-lettered (see `hms-sync dlq list`), a source failed, has been retrying longer than sourceFailAfter or is down (its process died), the store cannot write (full, read-only), or the store does not exist; 4 the store could not be reached.\n')
    .action(async (configArg: string | undefined, opts: { store?: string; json?: boolean }) => {
      let failAfterMs = DEFAULT_FAIL_AFTER_MS;
      if (!opts.store || configArg) {
        try {
          failAfterMs = (await loadConfigArg(configArg)).sourceFailAfterMs ?? DEFAULT_FAIL_AFTER_MS;
        } catch {
          // withStore reports a config that cannot be loaded
        }
      }
      await withStore({ store: opts.store, config: configArg }, setCode, async (store) => {
        const stats = await store.stats();
        const sources = new Map((await store.listSources()).map((s) => [s.pipeline, viewSource(s, failAfterMs)]));
        const write = await storeWrite(store);
        const rows: Array<Record<string, unknown>> = stats.map((s) => ({ ...s, source: sources.get(s.pipeline) ?? null }));
        for (const [pipeline, source] of sources) {
          if (!stats.some((s) => s.pipeline === pipeline)) rows.push({ pipeline, target: null, pending: 0, running: 0, retrying: 0, dead: 0, done: 0, oldestPendingAgeMs: null, lastError: null, source });
        }
        if (opts.json) printJson(rows.map((r) => ({ ...r, store: write })));
        else {
          if (!stats.length) process.stdout.write('queue is empty: no jobs recorded yet\n');
          else printTable(stats.map((s) => ({ ...s, oldest: formatAge(s.oldestPendingAgeMs), lastError: shorten(s.lastError, 80) })), ['pipeline', 'target', 'pending', 'running', 'retrying', 'dead', 'done', 'oldest', 'lastError']);
          if (sources.size) {
            process.stdout.write('\n');
            printTable([...sources].map(([pipeline, v]) => ({
              pipeline,
              source: v.state,
              since: v.since === null ? null : `${formatAge(Math.max(0, Date.now() - v.since))} ago`,
              readBy: v.holder ? `${v.holder.host} pid ${v.holder.pid}` : null,
              error: v.error,
            })), ['pipeline', 'source', 'since', 'readBy', 'error']);
          }
          if (!write.writable) process.stdout.write(`\nstore: CANNOT WRITE: ${write.error}\n`);
        }
        const problem = stats.some((s) => s.dead > 0) || [...sources.values()].some((v) => v.problem) || !write.writable;
        setCode(problem ? EXIT.FAILURE : EXIT.OK);
      });
    });
}
