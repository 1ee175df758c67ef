import { type Command, Option } from 'commander';
import { LOG_LEVELS } from '../config/schema.js';
import { createEngine } from '../engine/engine.js';
import { ConfigError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { loadConfigArg } from './common.js';
import { nothingToRunIssue } from '../config/load-config.js';
import { EXIT } from './exit-codes.js';

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('run')
    .description('Run the pipelines of a configuration until SIGINT/SIGTERM (graceful shutdown)')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('-p, --pipeline <name...>', 'run only these pipelines')
    .option('--no-capture', 'do not run sources (delivery workers only: scale out workers on PostgreSQL)')
    .option('--no-deliver', 'do not run delivery workers (capture only)')
    .addOption(new Option('--log-level <level>', 'log level (default: $HMS_LOG_LEVEL, else the config\'s log.level)').choices(LOG_LEVELS))
    .addHelpText('after', '\nExamples:\n  hms-sync run hms-sync.yaml\n  hms-sync run prod.yaml --pipeline bridge-schedule --no-capture   # an extra worker process\n')
    .action(async (configArg: string | undefined, opts: { pipeline?: string[]; capture: boolean; deliver: boolean; logLevel?: string }) => {
      const config = await loadConfigArg(configArg);
      const logger = createLogger({ level: opts.logLevel ?? (process.env.HMS_LOG_LEVEL ? undefined : config.logLevel) });
      const idle = opts.pipeline?.length ? null : nothingToRunIssue(config);
      if (idle) throw new ConfigError(idle.message, { file: config.file, path: idle.path });
      const engine = createEngine({ config, logger, pipelines: opts.pipeline, capture: opts.capture, deliver: opts.deliver });
      await engine.start();
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          logger.info({ signal: sig }, 'stopping: finishing batches in hand (send the signal again to force)');
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.once('SIGINT', () => process.exit(EXIT.INTERRUPTED));
          process.once('SIGTERM', () => process.exit(EXIT.INTERRUPTED));
          engine.stop().then(resolve, resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      setCode(EXIT.OK);
    });
}
