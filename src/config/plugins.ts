/**
 * Connector plug-ins: a config may list modules under `plugins:` (paths relative to the config
 * file, or package names). Each module's default export (or `connector` export) is a
 * ConnectorDescriptor; it is registered before the config is validated, so its driver name
 * and schemas are known. `hms-sync new <system>` scaffolds one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { isBuiltInDriver, registerConnector } from '../connectors/registry.js';
import type { ConnectorDescriptor } from '../connectors/contract.js';

export async function loadPluginsFromFile(configFile: string): Promise<string[]> {
  let raw: unknown;
  try {
    raw = parse(readFileSync(configFile, 'utf8'));
  } catch {
    return []; // the config loader reports syntax errors with their line
  }
  const list = (raw as { plugins?: unknown } | null)?.plugins;
  if (!Array.isArray(list)) return [];
  const loaded: string[] = [];
  for (const spec of list) {
    if (typeof spec !== 'string') continue;
    const target = spec.startsWith('.') || path.isAbsolute(spec) ? pathToFileURL(path.resolve(path.dirname(configFile), spec)).href : spec;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(target)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`${configFile}: plugin "${spec}" could not be loaded: ${(err as Error).message}`, { file: configFile, path: 'plugins', cause: err });
    }
    const d = (mod.default ?? mod.connector) as ConnectorDescriptor | undefined;
    if (!d || typeof d.driver !== 'string' || typeof d.testConnection !== 'function') {
      throw new ConfigError(`${configFile}: plugin "${spec}" does not export a connector descriptor (default export with driver, systemSchema, testConnection, createSink/createSource)`, { file: configFile, path: 'plugins' });
    }
    if (isBuiltInDriver(d.driver)) {
      throw new ConfigError(`${configFile}: plugin "${spec}" registers driver "${d.driver}", which is built in; a plug-in cannot replace a built-in driver, give it another name`, { file: configFile, path: 'plugins' });
    }
    registerConnector(d);
    loaded.push(d.driver);
  }
  return loaded;
}
