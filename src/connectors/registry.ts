/**
 * The one list of connectors. A new technology adds one import and one entry here.
 */
import type { ConnectorDescriptor } from './contract.js';
import type { TriggerDb } from './triggers/trigger-db.js';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { sqliteConnector } from './sqlite/sqlite-connector.js';
import { httpConnector } from './http/http-connector.js';
import { fileConnector } from './file/file-connector.js';
import { soapConnector } from './soap/soap-connector.js';
import { postgresConnector } from './postgres/postgres-connector.js';
import { mariadbConnector, mysqlConnector } from './mariadb/mariadb-connector.js';

const descriptors: ConnectorDescriptor[] = [
  // connectors register below (one line each)
  sqliteConnector,
  httpConnector,
  fileConnector,
  soapConnector,
  postgresConnector,
  mariadbConnector, mysqlConnector,
];

const byDriver = new Map<string, ConnectorDescriptor>();
for (const d of descriptors) byDriver.set(d.driver, d);
const builtIn = new Set(descriptors.map((d) => d.driver));

/** A driver that ships with hms-sync (a plug-in must not take its name). */
export function isBuiltInDriver(driver: string): boolean {
  return builtIn.has(driver);
}

/** The drivers that ship with hms-sync, sorted. */
export function builtInDrivers(): string[] {
  return [...builtIn].sort();
}

export function registerConnector(d: ConnectorDescriptor): void {
  byDriver.set(d.driver, d);
}

export function getConnector(driver: string): ConnectorDescriptor {
  const d = byDriver.get(driver);
  if (!d) throw new NotFoundError(`unknown driver "${driver}"; known drivers are: ${listDrivers().join(', ')}`);
  return d;
}

export function hasConnector(driver: string): boolean {
  return byDriver.has(driver);
}

export function listDrivers(): string[] {
  return [...byDriver.keys()].sort();
}

export function listConnectors(): ConnectorDescriptor[] {
  return [...byDriver.values()];
}

/** Drivers whose connector offers trigger capture (`openTriggerDb`). */
export function supportsTriggers(driver: string): boolean {
  return typeof byDriver.get(driver)?.openTriggerDb === 'function';
}

/** Open the trigger-capture handle of a system (its `driver` and system config). */
export function openTriggerDb(driver: string, cfg: Record<string, unknown>, baseDir?: string): TriggerDb {
  const d = byDriver.get(driver);
  if (!d?.openTriggerDb) {
    const ok = [...byDriver.values()].filter((x) => x.openTriggerDb).map((x) => x.driver);
    throw new ConfigError(`trigger-based capture is not available for driver "${driver}"; it works with ${ok.join(', ')}`);
  }
  return d.openTriggerDb(cfg, baseDir);
}
