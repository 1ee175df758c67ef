import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseConfig } from '../config/load-config.js';
import { getConnector } from '../connectors/registry.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { printJson, resolveConfigFile } from './common.js';
import { EXIT } from './exit-codes.js';
import { loadPluginsFromFile } from '../config/plugins.js';

export function register(program: Command, setCode: (code: number) => void): void {
  program
    .command('validate')
    .description('Check a configuration strictly (unknown keys, wrong types, unknown systems) and test each system\'s connection')
    .argument('[config]', 'configuration file (default: ./hms-sync.yaml or $HMS_SYNC_CONFIG)')
    .option('--no-connect', 'only check the file; do not contact the systems')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 valid and every system reachable, 3 configuration errors, 4 a system could not be reached or cannot serve a pipeline\'s source as configured (e.g. PostgreSQL at wal_level = replica for mode: logical, a missing table).\n')
    .action(async (configArg: string | undefined, opts: { connect: boolean; json?: boolean }) => {
      const file = resolveConfigFile(configArg);
      await loadPluginsFromFile(file);
      const { config, issues } = parseConfig(readConfigText(file), { file, env: process.env });
      const systems: Array<{ name: string; driver: string; ok: boolean; error?: string }> = [];
      if (config && opts.connect) {
        for (const s of Object.values(config.systems)) {
          try {
            await getConnector(s.driver).testConnection(s.config, { logger: silentLogger(), system: s.name, baseDir: path.dirname(file) });
            systems.push({ name: s.name, driver: s.driver, ok: true });
          } catch (err) {
            systems.push({ name: s.name, driver: s.driver, ok: false, error: errorMessage(err) });
          }
        }
      }
      // each pipeline's source, where its connector can check it and its system answered
      const sources: Array<{ pipeline: string; system: string; ok: boolean; error?: string; warnings: string[] }> = [];
      if (config && opts.connect) {
        for (const p of Object.values(config.pipelines)) {
          const sys = config.systems[p.from.system];
          const connector = sys ? getConnector(sys.driver) : undefined;
          if (!sys || !connector?.checkSource || !systems.find((s) => s.name === sys.name)?.ok) continue;
          try {
            const warnings = await connector.checkSource({ system: sys.name, systemConfig: sys.config, collection: p.from.collection, options: p.from.options, keyFields: p.key, logger: silentLogger(), baseDir: path.dirname(file) });
            sources.push({ pipeline: p.name, system: sys.name, ok: true, warnings });
          } catch (err) {
            sources.push({ pipeline: p.name, system: sys.name, ok: false, error: errorMessage(err), warnings: [] });
          }
        }
      }
      const valid = issues.length === 0;
      const reachable = systems.every((s) => s.ok) && sources.every((s) => s.ok);
      if (opts.json) printJson({ file, valid, issues, systems, sources });
      else {
        for (const i of issues) process.stdout.write(`${i.file ?? file}${i.line ? `:${i.line}${i.column ? `:${i.column}` : ''}` : ''} ${i.path || '(root)'}: ${i.message}\n`);
        for (const s of systems) process.stdout.write(`${s.ok ? 'ok     ' : 'FAILED '} system ${s.name} (${s.driver})${s.error ? `: ${s.error}` : ''}\n`);
        for (const s of sources) {
          process.stdout.write(`${s.ok ? 'ok     ' : 'FAILED '} source of pipeline ${s.pipeline} (system ${s.system})${s.error ? `: ${s.error}` : ''}\n`);
          for (const w of s.warnings) process.stdout.write(`warning source of pipeline ${s.pipeline}: ${w}\n`);
        }
        if (valid) process.stdout.write(`${file}: configuration is valid (${Object.keys(config!.pipelines).length} pipelines, ${Object.keys(config!.systems).length} systems)${opts.connect ? '' : '; connections not tested'}\n`);
        else process.stdout.write(`${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}\n`);
      }
      setCode(!valid ? EXIT.CONFIG : !reachable ? EXIT.UNREACHABLE : EXIT.OK);
    });
}

/** The config file's text; a missing or unreadable file is a ConfigError (exit 3), not a crash. */
function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${file} not found` : `cannot read config file ${file}: ${(e as Error).message}`, { file, cause: e });
  }
}
