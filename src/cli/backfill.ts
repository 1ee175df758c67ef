/**
 * `hms-sync backfill <pipeline> [config]`: initial snapshot interleaved with the live change
 * stream (DBLog watermarks; see src/engine/backfill.ts). Resumable after a kill. A progress
 * bar on a terminal (rows, rate, ETA), plain progress lines otherwise, `--json` summary.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { createLogger } from '../core/log.js';
import { UsageError } from '../core/errors.js';
import { openStore } from '../store/open-store.js';
import { runBackfill, type BackfillProgress } from '../engine/backfill.js';
import { loadConfigArg, printJson } from './common.js';
import { EXIT } from './exit-codes.js';

interface Opts { chunkSize: string; restart?: boolean; json?: boolean; logLevel?: string }

/** Seconds left at the current rate, as `42s` / `3m05s` / `1h02m`; `?` before there is a rate. */
export function etaText(rows: number, total: number | null, rate: number): string {
  if (total === null || rate <= 0) return '?';
  const s = Math.max(0, Math.round((total - rows) / rate));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function reporter(json: boolean): { update(p: BackfillProgress): void; stop(): void } {
  const started = Date.now();
  if (process.stderr.isTTY && !json) {
    const bar = new cliProgress.SingleBar({
      // our own ETA: cli-progress prints "NFs" until it has a rate
      format: 'backfill [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {etaText} | superseded {superseded}',
      stream: process.stderr, hideCursor: true, etaBuffer: 20,
    }, cliProgress.Presets.shades_classic);
    let startedBar = false;
    return {
      update(p) {
        const rate = Math.round((p.rows * 1000) / Math.max(1, Date.now() - started));
        const eta = p.rows === 0 ? '?' : etaText(p.rows, p.total, rate);
        if (!startedBar) { bar.start(p.total ?? p.rows, p.rows, { rate, superseded: p.superseded, etaText: eta }); startedBar = true; }
        if (p.total !== null && p.rows > p.total) bar.setTotal(p.rows);
        bar.update(p.rows, { rate, superseded: p.superseded, etaText: eta });
      },
      stop() { if (startedBar) bar.stop(); },
    };
  }
  let last = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 1000 && !(p.total !== null && p.rows >= p.total)) return;
      last = now;
      const rate = Math.round((p.rows * 1000) / Math.max(1, now - started));
      const eta = etaText(p.rows, p.total, rate);
      process.stderr.write(`backfill: ${p.rows}${p.total !== null ? `/${p.total}` : ''} rows, ${rate} rows/s, ETA ${eta}, ${p.chunks} chunks, ${p.superseded} superseded by live changes\n`);
    },
    stop() {},
  };
}

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('backfill')
    .description('Snapshot a pipeline\'s source table into its target, interleaved with the live change stream (DBLog watermarks); resumable')
    .argument('<pipeline>', 'pipeline to backfill (its source must use mode: triggers, binlog or logical)')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--chunk-size <rows>', 'rows per chunk (memory is bounded by it)', '1000')
    .option('--restart', 'start over instead of resuming an interrupted or finished backfill')
    .option('--json', 'print a JSON summary')
    .option('--log-level <level>', 'trace, debug, info, warn, error, silent')
    .addHelpText('after', '\nRows become jobs in the store; `hms-sync run` delivers them. Stop `run`\'s capture of this pipeline\n(or run it with --no-capture) while the backfill runs: the backfill drains the stream itself.\n\nExit codes: 0 done, 1 failed (the message says why), 2 usage, 3 configuration error, 4 a system\ncould not be reached, 130 interrupted (run again to resume).\n\nExample:\n  hms-sync backfill orders hms-sync.yaml --chunk-size 5000\n')
    .action(async (pipeline: string, configArg: string | undefined, opts: Opts) => {
      const chunkSize = Number(opts.chunkSize);
      if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 1_000_000) throw new UsageError(`--chunk-size must be a whole number from 1 to 1000000, not ${JSON.stringify(opts.chunkSize)}`);
      const config = await loadConfigArg(configArg);
      const logger = createLogger({ level: opts.logLevel ?? (config.logLevel === 'info' ? 'warn' : config.logLevel) });
      const store = await openStore(config.store);
      await store.migrate();
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const rep = reporter(!!opts.json);
      try {
        const s = await runBackfill({ config, pipeline, store, logger, chunkSize, restart: opts.restart, signal: ac.signal, onProgress: (p) => rep.update(p) });
        rep.stop();
        if (opts.json) printJson(s);
        else if (s.alreadyDone) process.stdout.write(`backfill of ${pipeline} already completed (${s.rows} rows); use --restart to run it again\n`);
        else process.stdout.write(`backfill of ${pipeline}: ${s.rows} rows in ${s.chunks} chunks, ${s.superseded} superseded by live changes, ${s.rowsPerSecond} rows/s${s.resumed ? ' (resumed)' : ''}${ac.signal.aborted ? ' - interrupted; run again to resume' : ''}\n`);
        setCode(ac.signal.aborted ? EXIT.INTERRUPTED : EXIT.OK);
      } finally {
        rep.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await store.close();
      }
    });
}
