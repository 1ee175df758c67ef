/**
 * HTTP for SOAP: one POST (or GET for a WSDL) with a deadline, an abort signal, a response
 * size limit, basic auth and TLS client certificates. Network failures and timeouts become
 * RetryableError; the body is returned raw for the XML safety checks and fault parsing.
 */
import { readFileSync } from 'node:fs';
import iconv from 'iconv-lite';
import { Agent, request, type Dispatcher } from 'undici';
import { ConfigError, FormatError, RetryableError, errorMessage } from '../../core/errors.js';
import type { RawResponse } from './soap-faults.js';
import type { SoapSystemConfig } from './soap-options.js';

export interface SoapHttpRequest {
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Names the call in error messages (`UpdatePermit at http://...`). */
  what: string;
}

/** The HTTP side of a soap system; one per sink/source, closed with it. */
export interface SoapTransport {
  send(req: SoapHttpRequest): Promise<RawResponse>;
  close(): Promise<void>;
}

function readPem(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`tls.${field}: cannot read "${file}": ${errorMessage(e)}; give the path of a PEM file`, { path: `tls.${field}`, cause: e });
  }
}

/** Build the transport of a system (reads TLS files now, so a bad path fails at start). */
export function createSoapTransport(cfg: Pick<SoapSystemConfig, 'timeout' | 'maxResponseBytes' | 'basicAuth' | 'tls' | 'headers'>): SoapTransport {
  const dispatcher: Dispatcher = new Agent({
    connect: cfg.tls
      ? {
          ...(cfg.tls.cert ? { cert: readPem(cfg.tls.cert, 'cert') } : {}),
          ...(cfg.tls.key ? { key: readPem(cfg.tls.key, 'key') } : {}),
          ...(cfg.tls.ca ? { ca: readPem(cfg.tls.ca, 'ca') } : {}),
          ...(cfg.tls.passphrase ? { passphrase: cfg.tls.passphrase } : {}),
          rejectUnauthorized: cfg.tls.rejectUnauthorized,
        }
      : {},
    keepAliveTimeout: 4_000,
  });
  const auth = cfg.basicAuth ? `Basic ${Buffer.from(`${cfg.basicAuth.username}:${cfg.basicAuth.password}`).toString('base64')}` : undefined;

  async function send(req: SoapHttpRequest): Promise<RawResponse> {
    const deadline = AbortSignal.timeout(cfg.timeout);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline;
    const headers: Record<string, string> = { ...cfg.headers, ...req.headers };
    if (auth) headers.authorization = auth;
    try {
      const res = await request(req.url, { method: req.method ?? 'POST', body: req.body, headers, dispatcher, signal });
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > cfg.maxResponseBytes) {
        res.body.destroy();
        throw tooLarge(req.what, `${declared} bytes`, cfg.maxResponseBytes);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > cfg.maxResponseBytes) {
          res.body.destroy();
          throw tooLarge(req.what, `more than ${cfg.maxResponseBytes} bytes`, cfg.maxResponseBytes);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, headers: res.headers, text: decodeBody(Buffer.concat(chunks), res.headers['content-type'], req.what) };
    } catch (e) {
      if (e instanceof FormatError) throw e;
      if (deadline.aborted) throw new RetryableError(`no answer from ${req.what} within ${cfg.timeout} ms (timeout)`, { cause: e });
      if (req.signal?.aborted) throw new RetryableError(`call to ${req.what} was aborted (shutting down)`, { cause: e });
      const msg = errorMessage(e);
      if (/SSL|TLS|CERT|certificate|handshake|self[- ]signed/i.test(msg + String((e as { cause?: unknown }).cause ?? ''))) {
        throw new RetryableError(`TLS handshake with ${req.what} failed: ${msg}${(e as { cause?: unknown }).cause ? ` (${errorMessage((e as { cause?: unknown }).cause)})` : ''}; check the system's tls options (cert, key, ca)`, { cause: e });
      }
      throw new RetryableError(`cannot reach ${req.what}: ${msg}`, { cause: e });
    }
  }

  return { send, close: () => dispatcher.close() };
}

function tooLarge(what: string, got: string, max: number): FormatError {
  return new FormatError(`response from ${what} is too large (${got}); the limit is maxResponseBytes = ${max}; raise it or ask for smaller pages`, { details: { maxResponseBytes: max } });
}

/**
 * The response text in the charset it declares: the Content-Type charset, else the XML
 * declaration's encoding, else a UTF-16 byte order mark, else UTF-8. Legacy services often
 * answer in ISO-8859-1 or windows-1252; reading those as UTF-8 would turn every accented
 * letter into U+FFFD without a word. An unknown charset is a FormatError naming it.
 */
export function decodeBody(buf: Buffer, contentType: string | string[] | undefined, what: string): string {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  let charset = ct ? /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct)?.[1] : undefined;
  if (!charset) {
    if (buf[0] === 0xfe && buf[1] === 0xff) charset = 'utf-16be';
    else if (buf[0] === 0xff && buf[1] === 0xfe) charset = 'utf-16le';
    else charset = /^(?:\uFEFF)?<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(buf.subarray(0, 200).toString('latin1'))?.[1];
  }
  if (!charset || /^utf-?8$/i.test(charset)) return buf.toString('utf8');
  if (!iconv.encodingExists(charset)) {
    throw new FormatError(`response from ${what} declares charset "${charset}", which hms-sync cannot decode; expected UTF-8, ISO-8859-x, windows-125x or UTF-16`, { details: { charset } });
  }
  return iconv.decode(buf, charset);
}
