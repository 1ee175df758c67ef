/**
 * The two ways of calling a SOAP service: through its WSDL with the `soap` package
 * ({@link openWsdlClient}), or by POSTing an envelope built from a template
 * ({@link postEnvelope}). Both go through the same transport and the same response checks
 * (DOCTYPE refused, size limit, faults classified, malformed XML reported).
 */
import path from 'node:path';
import { createClientAsync, WSSecurity, type Client, type IHttpClient } from 'soap';
import { ConfigError, HmsError, RetryableError, errorMessage } from '../../core/errors.js';
import { responseError, type RawResponse } from './soap-faults.js';
import type { FaultRule, SoapSystemConfig } from './soap-options.js';
import type { SoapTransport } from './soap-transport.js';
import { assertNoDoctype } from './xml-safety.js';

/** Per-call context handed through the soap package to our HTTP adapter. */
interface CallContext {
  signal?: AbortSignal;
  rules: readonly FaultRule[];
  /** Names the call in messages; `{url}` is replaced by the URL actually called. */
  what: string;
}

const ENVELOPE_NS = { '1.1': 'http://schemas.xmlsoap.org/soap/envelope/', '1.2': 'http://www.w3.org/2003/05/soap-envelope' } as const;

/** Keep every XSD scalar as the exact text sent (xsd:long / xsd:decimal beyond 2^53, "007", dates). */
const KEEP_TEXT = (text: string): string => text;
const CUSTOM_DESERIALIZER = Object.fromEntries(
  ['int', 'integer', 'short', 'long', 'double', 'float', 'decimal', 'bool', 'boolean', 'dateTime', 'date'].map((t) => [t, KEEP_TEXT]),
);

/** WS-Security UsernameToken of a system (text or digest), or undefined. */
export function wsSecurityOf(cfg: SoapSystemConfig): WSSecurity | undefined {
  const w = cfg.wsSecurity;
  if (!w) return undefined;
  return new WSSecurity(w.username, w.password, {
    passwordType: w.passwordType === 'digest' ? 'PasswordDigest' : 'PasswordText',
    hasNonce: w.nonce || w.passwordType === 'digest',
    hasTimeStamp: w.timestamp,
    hasTokenCreated: true,
    mustUnderstand: w.mustUnderstand ? 1 : undefined,
  });
}

/** Adapter from the soap package's HTTP client interface to our transport. */
function httpAdapter(transport: SoapTransport, systemRules: readonly FaultRule[]): IHttpClient {
  return {
    request(rurl, data, callback, exheaders, exoptions) {
      const ctx = (exoptions as { hms?: CallContext } | undefined)?.hms;
      const what = ctx ? ctx.what.replace('{url}', rurl) : rurl;
      const isGet = data == null;
      const run = async (): Promise<RawResponse> => {
        if (!isGet) assertNoDoctype(String(data), `request to ${what}`);
        const res = await transport.send({ url: rurl, method: isGet ? 'GET' : 'POST', body: isGet ? undefined : String(data), headers: (exheaders ?? {}) as Record<string, string>, signal: ctx?.signal, what });
        const err = responseError(res, [...(ctx?.rules ?? []), ...systemRules], what);
        if (err) throw err;
        return res;
      };
      const p = run().then(
        (res) => { callback(null, { status: res.status, headers: res.headers, data: res.text, config: { headers: exheaders } }, res.text); },
        (err: unknown) => { callback(err); },
      );
      return p as never;
    },
  };
}

/** A WSDL-driven client. */
export interface WsdlClient {
  /** Operation names the WSDL declares (all services and ports). */
  readonly operations: readonly string[];
  /**
   * The output message of an operation as the WSDL types describe it (the soap package's
   * `describe()`: element name -> nested shape or XSD type; a repeated element's name ends in
   * `[]`), or undefined for an unknown operation.
   */
  outputOf(operation: string): unknown;
  /** Call an operation; resolves to the parsed output (every scalar a string) and the raw XML. */
  call(operation: string, args: unknown, opts: { signal?: AbortSignal; rules?: readonly FaultRule[] }): Promise<{ result: unknown; raw: string }>;
}

/** Load the WSDL (file or URL) and build a client that uses our transport. */
export async function openWsdlClient(cfg: SoapSystemConfig, transport: SoapTransport, system: string): Promise<WsdlClient> {
  const wsdl = cfg.wsdl!;
  // Paths were resolved against the config file's folder by resolveSystemPaths.
  const location = /^https?:\/\//i.test(wsdl) ? wsdl : path.resolve(wsdl);
  let client: Client;
  try {
    client = await createClientAsync(location, {
      httpClient: httpAdapter(transport, cfg.faults),
      ...(cfg.url ? { endpoint: cfg.url } : {}),
      forceSoap12Headers: cfg.soapVersion === '1.2',
      customDeserializer: CUSTOM_DESERIALIZER,
      handleNilAsNull: true,
      disableCache: true,
      wsdl_options: { hms: { rules: [], what: `WSDL {url} of system "${system}"` } },
    });
  } catch (e) {
    if (e instanceof RetryableError) throw e;
    throw new ConfigError(`system "${system}": cannot load WSDL "${wsdl}": ${errorMessage(e)}; give a readable WSDL file path or URL`, { path: `systems.${system}.wsdl`, cause: e });
  }
  const sec = wsSecurityOf(cfg);
  if (sec) client.setSecurity(sec);
  const described = client.describe() as Record<string, Record<string, Record<string, unknown>>>;
  const operations = [...new Set(Object.values(described).flatMap((svc) => Object.values(svc).flatMap((port) => Object.keys(port))))].sort();
  return {
    operations,
    outputOf(operation) {
      for (const svc of Object.values(described)) for (const port of Object.values(svc)) {
        const op = (port as Record<string, { output?: unknown } | undefined>)[operation];
        if (op) return op.output;
      }
      return undefined;
    },
    call(operation, args, opts) {
      const method = (client as unknown as Record<string, unknown>)[operation];
      if (!operations.includes(operation) || typeof method !== 'function') {
        return Promise.reject(new ConfigError(`operation "${operation}" is not in WSDL "${wsdl}"; it declares: ${operations.join(', ')}`));
      }
      const what = `${operation} at {url} (system "${system}")`;
      const hms: CallContext = { signal: opts.signal, rules: opts.rules ?? [], what };
      return new Promise((resolve, reject) => {
        (method as (a: unknown, cb: (err: unknown, result: unknown, raw: unknown) => void, o: unknown) => void).call(client, args, (err, result, raw) => {
          if (!err) return resolve({ result, raw: typeof raw === 'string' ? raw : '' });
          if (err instanceof HmsError) return reject(err);
          // The soap package could not make sense of a well-formed answer.
          reject(new RetryableError(`unexpected response to ${what.replace('{url}', cfg.url ?? 'the WSDL address')}: ${describeSoapError(err)}`, { cause: err }));
        }, { hms });
      });
    },
  };
}

function describeSoapError(err: unknown): string {
  const fault = (err as { Fault?: { faultstring?: unknown; detail?: unknown } } | null)?.Fault;
  if (fault) return `${String(fault.faultstring)}: ${String(fault.detail)}`;
  return errorMessage(err);
}

/** Wrap a body (and optional header XML) in a SOAP 1.1 or 1.2 envelope. */
export function buildEnvelope(body: string, version: '1.1' | '1.2', headerXml = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${ENVELOPE_NS[version]}">${headerXml ? `<soap:Header>${headerXml}</soap:Header>` : ''}<soap:Body>${body}</soap:Body></soap:Envelope>`;
}

/** HTTP headers for a SOAP request: SOAPAction (1.1) or the action parameter (1.2). */
export function soapHeaders(version: '1.1' | '1.2', action: string): Record<string, string> {
  return version === '1.2'
    ? { 'content-type': `application/soap+xml; charset=utf-8${action ? `; action="${action}"` : ''}` }
    : { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${action}"` };
}

/** POST a ready envelope (template mode) and classify the answer; resolves to the raw response. */
export async function postEnvelope(transport: SoapTransport, req: { url: string; envelope: string; version: '1.1' | '1.2'; action: string; signal?: AbortSignal; rules: readonly FaultRule[]; what: string }): Promise<RawResponse> {
  assertNoDoctype(req.envelope, `request to ${req.what}`);
  const res = await transport.send({ url: req.url, body: req.envelope, headers: soapHeaders(req.version, req.action), signal: req.signal, what: req.what });
  const err = responseError(res, req.rules, req.what, { allowEmpty: true });
  if (err) throw err;
  return res;
}
