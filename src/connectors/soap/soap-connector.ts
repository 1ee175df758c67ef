/**
 * The `soap` connector: WSDL-driven or template-driven sink, polling source.
 * docs/connectors/soap.md documents every option.
 */
import { defineConnector } from '../contract.js';
import { errorMessage, RetryableError } from '../../core/errors.js';
import { openWsdlClient } from './soap-client.js';
import { resolveSystemPaths, soapSinkSchema, soapSourceSchema, soapSystemSchema } from './soap-options.js';
import { createSoapSink } from './soap-sink.js';
import { createSoapSource } from './soap-source.js';
import { createSoapReader } from './soap-reader.js';
import { createSoapTransport } from './soap-transport.js';

export const soapConnector = defineConnector({
  driver: 'soap',
  description: 'SOAP 1.1/1.2 services: calls WSDL operations or POSTs templated XML bodies; polls a list operation for changes; reads it (and a get-by-key operation) as a Reader.',
  systemSchema: soapSystemSchema,
  sinkSchema: soapSinkSchema,
  sourceSchema: soapSourceSchema,
  createSink: createSoapSink,
  createSource: createSoapSource,
  createReader: createSoapReader,
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
