/**
 * The `soap` connector: WSDL-driven or template-driven sink, polling source.
 * docs/connectors/soap.md documents every option.
 */
import { defineConnector } from '../contract.js';
import { ConfigError, errorMessage, PermanentError, RetryableError } from '../../core/errors.js';
import { openWsdlClient } from './soap-client.js';
import { resolveSystemPaths, soapSinkSchema, soapSourceSchema, soapSystemSchema } from './soap-options.js';
import { createSoapSink } from './soap-sink.js';
import { createSoapSource } from './soap-source.js';
import { createSoapReader } from './soap-reader.js';
import { createSoapTransport } from './soap-transport.js';
import type { SoapSourceOptions, SoapSystemConfig } from './soap-options.js';
import { didYouMean } from '../../core/suggest.js';

/** Load a system's WSDL for a check (the transport is closed again at once: describe needs no calls). */
async function openForCheck(rawCfg: SoapSystemConfig, system: string, baseDir: string | undefined): Promise<{ client: Awaited<ReturnType<typeof openWsdlClient>>; where: string }> {
  const cfg = resolveSystemPaths(rawCfg, baseDir);
  if (!cfg.wsdl) throw new ConfigError(`system "${system}" has no wsdl; the soap source calls a WSDL operation, so give systems.${system}.wsdl`, { path: `systems.${system}.wsdl` });
  const transport = createSoapTransport(cfg);
  try {
    return { client: await openWsdlClient(cfg, transport, system), where: `the WSDL ${rawCfg.wsdl} of system "${system}"` };
  } finally {
    await transport.close();
  }
}

const NS_KEYS = new Set(['targetNSAlias', 'targetNamespace']);

/** Element names of a described shape (`Permit[]` as `Permit`), namespace bookkeeping left out. */
function fieldsOf(shape: Record<string, unknown>): string[] {
  return Object.keys(shape).filter((k) => !NS_KEYS.has(k)).map((k) => k.replace(/\[\]$/, ''));
}

/**
 * The described shape of one record: the output followed along the dotted `rowsPath`; a step the
 * WSDL does not declare is a PermanentError with a did-you-mean. Null when the WSDL does not
 * describe the output as elements (e.g. an xsd:any).
 */
function rowShape(output: unknown, rowsPath: string, operation: string, where: string): Record<string, unknown> | null {
  let at: unknown = output;
  const done: string[] = [];
  for (const step of rowsPath.split('.').filter(Boolean)) {
    if (at === null || typeof at !== 'object') return null;
    const shape = at as Record<string, unknown>;
    const key = Object.hasOwn(shape, step) ? step : Object.hasOwn(shape, `${step}[]`) ? `${step}[]` : undefined;
    if (key === undefined) {
      const names = fieldsOf(shape);
      throw new PermanentError(`from.rowsPath "${rowsPath}": the output of ${operation} in ${where} has no element "${step}"${done.length ? ` under ${done.join('.')}` : ''}${didYouMean(step, names)}; it has ${names.join(', ') || 'none'}`);
    }
    done.push(step);
    at = shape[key];
  }
  return at !== null && typeof at === 'object' ? (at as Record<string, unknown>) : null;
}

export const soapConnector = defineConnector({
  driver: 'soap',
  description: 'SOAP 1.1/1.2 services: calls WSDL operations or POSTs templated XML bodies; polls a list operation for changes; reads it (and a get-by-key operation) as a Reader.',
  systemSchema: soapSystemSchema,
  sinkSchema: soapSinkSchema,
  sourceSchema: soapSourceSchema,
  createSink: createSoapSink,
  createSource: createSoapSource,
  createReader: createSoapReader,
  /**
   * validate: the list (and getByKey) operation is in the WSDL, and `rowsPath` and
   * `positionField` name elements of its output as the WSDL types describe it.
   */
  async checkSource(ctx) {
    const { client, where } = await openForCheck(ctx.systemConfig, ctx.system, ctx.baseDir);
    const o = ctx.options as SoapSourceOptions;
    for (const [key, op] of [['from.operation', o.operation], ['from.getByKey.operation', o.getByKey?.operation]] as const) {
      if (op !== undefined && !client.operations.includes(op)) throw new PermanentError(`${key}: "${op}" is not an operation of ${where}${didYouMean(op, client.operations)}; it declares ${client.operations.join(', ')}`);
    }
    const row = rowShape(client.outputOf(o.operation), o.rowsPath, o.operation, where);
    if (o.positionField && row && !fieldsOf(row).includes(o.positionField)) {
      throw new PermanentError(`from.positionField "${o.positionField}" is not a field of the records of ${o.operation} (${where})${didYouMean(o.positionField, fieldsOf(row))}; they have ${fieldsOf(row).join(', ')}`);
    }
    return [];
  },

  /** validate: the fields of a record, from the WSDL types of the list operation's output at rowsPath. */
  async describeSource(ctx) {
    const { client, where } = await openForCheck(ctx.systemConfig, ctx.system, ctx.baseDir);
    const o = ctx.options as SoapSourceOptions;
    const row = rowShape(client.outputOf(o.operation), o.rowsPath, o.operation, where);
    return row ? { fields: fieldsOf(row), from: `the ${o.rowsPath} elements of ${o.operation} in ${where}` } : null;
  },

  async testConnection(rawCfg, { system, baseDir }) {
    const cfg = resolveSystemPaths(rawCfg, baseDir);
    const transport = createSoapTransport(cfg);
    try {
      if (cfg.wsdl) {
        await openWsdlClient(cfg, transport, system);
        return;
      }
      // Template mode: any HTTP answer (even 405 or 500 to a GET) proves the endpoint is there.
      const res = await transport.send({ url: cfg.url!, method: 'GET', what: `${cfg.url} (system "${system}")` });
      if (res.status === 401 || res.status === 403) throw new RetryableError(`system "${system}": ${cfg.url} answered HTTP ${res.status}; check basicAuth / tls`);
    } catch (e) {
      throw e instanceof Error ? e : new Error(errorMessage(e));
    } finally {
      await transport.close();
    }
  },
});
