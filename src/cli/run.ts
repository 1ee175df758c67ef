import { type Command, Option } from 'commander';
import { LOG_LEVELS } from '../config/schema.js';
import { createEngine } from '../engine/engine.js';
import { ConfigError, RefusedError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { loadConfigArg } from './common.js';
import { nothingToRunIssue } from '../config/load-config.js';
import { startActivityLog } from '../engine/activity-log.js';
import { LOG_FORMATS } from '../core/log.js';
import { isDuration, parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import { EXIT } from './exit-codes.js';

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('run')
    .description('Run the pipelines of a configuration until SIGINT/SIGTERM (graceful shutdown)')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('-p, --pipeline <name...>', 'run only these pipelines')
    .option('--no-capture', 'do not run sources (delivery workers only: scale out workers on PostgreSQL)')
    .option('--no-deliver', 'do not run delivery workers (capture only)')
    .option('--keep-going', 'keep running when a source cannot start (missing table, wal_level, binlog off, bad credentials, port in use; on SQLite another process reads it): retry it and report it in `status` instead of exiting 4 (5)')
    .addOption(new Option('--log-level <level>', 'log level (default: $HMS_LOG_LEVEL, else the config\'s log.level)').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'log format: pretty lines, JSON lines, or auto = pretty on a terminal (default: $HMS_LOG_FORMAT, else auto)').choices(LOG_FORMATS))
    .option('--log-every <duration>', 'how often each pipeline\'s delivery summary line is logged at info (default: $HMS_LOG_EVERY, else 5s)')
    .addHelpText('after', '\nExit codes: 0 stopped cleanly, 3 invalid configuration, 4 a source cannot start (permanent problem; see --keep-going) or the state store cannot be opened, 5 on SQLite another process already reads a source, 130 forced stop.\n\nExamples:\n  hms-sync run hms-sync.yaml\n  hms-sync run prod.yaml --pipeline bridge-schedule --no-capture   # an extra worker process\n')
    .action(async (configArg: string | undefined, opts: { pipeline?: string[]; capture: boolean; deliver: boolean; logLevel?: string; keepGoing?: boolean; logFormat?: string; logEvery?: string }) => {
      const everyMs = activityEvery(opts.logEvery);
      const config = await loadConfigArg(configArg);
      const logger = createLogger({ level: opts.logLevel ?? (process.env.HMS_LOG_LEVEL ? undefined : config.logLevel), format: opts.logFormat });
      const idle = opts.pipeline?.length ? null : nothingToRunIssue(config);
      if (idle) throw new ConfigError(idle.message, { file: config.file, path: idle.path });
      const engine = createEngine({ config, logger, pipelines: opts.pipeline, capture: opts.capture, deliver: opts.deliver, failFast: !opts.keepGoing });
      const activity = startActivityLog(engine, {
        logger, everyMs, store: () => engine.store,
        pipelines: opts.pipeline?.length ? opts.pipeline : Object.values(config.pipelines).filter((p) => p.enabled).map((p) => p.name),
      });
      // a source that cannot start ends the run (unless --keep-going): one line naming the pipeline and what to change
      let fatal: Error | null = null;
      let onFatal: (() => void) | null = null;
      engine.once('source:fatal', ({ error }) => {
        fatal = error;
        onFatal?.();
      });
      await engine.start();
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          logger.info({ signal: sig }, 'stopping: finishing batches in hand (send the signal again to force)');
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.once('SIGINT', () => process.exit(EXIT.INTERRUPTED));
          process.once('SIGTERM', () => process.exit(EXIT.INTERRUPTED));
          engine.stop().finally(() => activity.stop()).then(resolve, resolve);
        };
        onFatal = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          engine.stop().finally(() => activity.stop()).then(resolve, resolve);
        };
        if (fatal) return onFatal();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      if (fatal) {
        const err = fatal as Error;
        process.stderr.write(`hms-sync: ${err.message}${err instanceof RefusedError ? '' : '; fix it and run again, or run with --keep-going to keep the other pipelines running and retry this one'}\n`);
        setCode(err instanceof RefusedError ? EXIT.REFUSED : EXIT.UNREACHABLE);
        return;
      }
      setCode(EXIT.OK);
    });
}

/** `--log-every`, else $HMS_LOG_EVERY, else 5 s; at least 100 ms. */
function activityEvery(option: string | undefined): number {
  const text = option ?? process.env.HMS_LOG_EVERY;
  if (text === undefined) return 5000;
  const from = option !== undefined ? '--log-every' : '$HMS_LOG_EVERY';
  if (!isDuration(text) || parseDuration(text) < 100) throw new UsageError(`${from} "${text}" is not valid; give a duration of at least 100ms, e.g. 5s or 30s`);
  return parseDuration(text);
}
