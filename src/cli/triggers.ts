/**
 * `hms-sync triggers install|uninstall <pipeline> [config]`: trigger-based capture on the
 * pipeline's source table (PostgreSQL, MariaDB/MySQL, SQLite). `--dry-run` prints the DDL.
 */
import type { Command } from 'commander';
import { ConfigError, NotFoundError } from '../core/errors.js';
import type { ResolvedConfig } from '../config/schema.js';
import { installTriggers, uninstallTriggers, type TriggerActionResult } from '../connectors/triggers/trigger-ddl.js';
import { openTriggerDb, supportsTriggers } from '../connectors/registry.js';
import { loadConfigArg, printJson } from './common.js';
import { EXIT } from './exit-codes.js';

interface Opts { json?: boolean; dryRun?: boolean }

/** The source system of a pipeline, checked to be a database trigger capture supports. */
export function triggerTarget(config: ResolvedConfig, pipeline: string): { driver: string; systemConfig: Record<string, unknown>; table: string; key: string[]; system: string } {
  const p = config.pipelines[pipeline];
  if (!p) throw new NotFoundError(`pipeline "${pipeline}" is not defined; defined pipelines are: ${Object.keys(config.pipelines).join(', ') || '(none)'}`);
  const sys = config.systems[p.from.system]!;
  if (!supportsTriggers(sys.driver)) throw new ConfigError(`pipeline "${pipeline}" reads from system "${p.from.system}" (driver ${sys.driver}); trigger capture works with postgres, mariadb (mysql) and sqlite sources`);
  return { driver: sys.driver, systemConfig: sys.config as Record<string, unknown>, table: p.from.collection, key: p.key, system: p.from.system };
}

function report(r: TriggerActionResult, action: 'install' | 'uninstall', opts: Opts): void {
  if (opts.json) return printJson({ action, dryRun: !!opts.dryRun, ...r });
  if (opts.dryRun) {
    process.stdout.write(`-- ${action} trigger capture on ${r.dialect} table ${r.table} (dry run: nothing executed)\n`);
    for (const s of r.statements) process.stdout.write(`${s};\n`);
    return;
  }
  if (action === 'install') process.stdout.write(`installed triggers ${r.triggers.join(', ')} on ${r.table} (${r.dialect}); change-log hms_sync_changelog ${r.changelog}\n`);
  else process.stdout.write(`removed triggers ${r.triggers.join(', ')} from ${r.table} (${r.dialect}); ${r.prunedRows ?? 0} pending change-log rows removed; change-log ${r.changelog}\n`);
}

export function register(program: Command, setCode: (code: number) => void): void {
  const cmd = program
    .command('triggers')
    .description('Install or remove trigger-based change capture on a pipeline\'s source table (PostgreSQL, MariaDB/MySQL, SQLite)');
  for (const action of ['install', 'uninstall'] as const) {
    cmd
      .command(action)
      .description(action === 'install'
        ? 'Create the change-log table hms_sync_changelog and AFTER INSERT/UPDATE/DELETE triggers (idempotent)'
        : 'Drop the triggers and this table\'s pending change-log rows; the change-log too when no table uses it')
      .argument('<pipeline>', 'pipeline whose source table to work on')
      .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
      .option('--json', 'print the result as JSON')
      .option('--dry-run', 'print the DDL without running it')
      .addHelpText('after', `\nThen set \`mode: triggers\` in the pipeline's from: block.\nExample:\n  hms-sync triggers ${action} inspections hms-sync.yaml --dry-run\n`)
      .action(async (pipeline: string, configArg: string | undefined, opts: Opts) => {
        const config = await loadConfigArg(configArg);
        const t = triggerTarget(config, pipeline);
        const db = openTriggerDb(t.driver, t.systemConfig, config.baseDir);
        try {
          const r = action === 'install' ? await installTriggers(db, t.table, t.key, { dryRun: opts.dryRun }) : await uninstallTriggers(db, t.table, { dryRun: opts.dryRun });
          report(r, action, opts);
          setCode(EXIT.OK);
        } finally {
          await db.close();
        }
      });
  }
}
