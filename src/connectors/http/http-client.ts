/**
 * One HTTP request with a total timeout, and the classification of its outcome into
 * ok / RetryableError / PermanentError. Shared by the sink and the REST polling source.
 * Error messages name the method, the URL (credentials redacted) and the status, never a secret.
 */
import { Agent, request } from 'undici';
import { errorMessage, PermanentError, RetryableError } from '../../core/errors.js';
import { redactUrl } from '../../core/log.js';
import { parseRetryAfter } from './retry-after.js';
import type { HttpSystem } from './http-schemas.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body was longer than `maxResponseBytes`; `text` holds only its beginning. */
  truncated?: boolean;
}

/** Bodies are read up to this many bytes by default (a runaway or hostile server cannot exhaust memory). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface HttpCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Engine shutdown. */
  signal?: AbortSignal;
  dispatcher?: Agent;
  /** Read at most this many body bytes (default {@link DEFAULT_MAX_RESPONSE_BYTES}); the rest is discarded and `truncated` set. */
  maxResponseBytes?: number;
}

/** A keep-alive connection pool for one system. */
export function createAgent(timeoutMs: number): Agent {
  return new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 4000, headersTimeout: timeoutMs + 1000, bodyTimeout: timeoutMs + 1000 });
}

/** Headers every request of a system carries: configured headers and authentication. */
export function baseHeaders(sys: HttpSystem): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'hms-sync', ...lowerKeys(sys.headers ?? {}) };
  if (sys.auth && 'bearer' in sys.auth) h.authorization = `Bearer ${sys.auth.bearer}`;
  if (sys.auth && 'basic' in sys.auth) h.authorization = `Basic ${Buffer.from(`${sys.auth.basic.username}:${sys.auth.basic.password}`).toString('base64')}`;
  return h;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Secrets of a system config, to scrub from anything quoted back (response snippets). */
export function secretsOf(sys: HttpSystem): string[] {
  const s: string[] = [];
  if (sys.signingSecret) s.push(sys.signingSecret);
  if (sys.auth && 'bearer' in sys.auth) s.push(sys.auth.bearer);
  if (sys.auth && 'basic' in sys.auth && sys.auth.basic.password) s.push(sys.auth.basic.password);
  return s.filter((x) => x.length >= 4);
}

/** A short single-line quote of a response body with secrets masked. */
export function snippet(text: string, secrets: string[] = [], max = 200): string {
  let s = text.replace(/\s+/g, ' ').trim();
  for (const secret of secrets) s = s.split(secret).join('***');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/**
 * Send one request. Network failures and timeouts throw RetryableError; any HTTP status is
 * returned (see {@link classifyResponse}).
 */
export async function httpCall(call: HttpCall): Promise<HttpResponse> {
  // one controller and one timer per request (AbortSignal.any + AbortSignal.timeout cost more per call)
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, call.timeoutMs);
  const onShutdown = () => ac.abort();
  if (call.signal?.aborted) ac.abort();
  else call.signal?.addEventListener('abort', onShutdown, { once: true });
  const signal = ac.signal;
  const where = `${call.method} ${redactUrl(call.url)}`;
  try {
    const res = await request(call.url, { method: call.method as 'POST', headers: call.headers, body: call.body, signal, dispatcher: call.dispatcher });
    const max = call.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (size + chunk.length > max) {
        chunks.push(chunk.subarray(0, max - size));
        truncated = true;
        break; // ends the iteration, which destroys the body stream
      }
      chunks.push(chunk);
      size += chunk.length;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    return { status: res.statusCode, headers: res.headers, text, ...(truncated ? { truncated } : {}) };
  } catch (err) {
    if (timedOut) throw new RetryableError(`${where} timed out after ${call.timeoutMs} ms`, { cause: err });
    if (call.signal?.aborted) throw new RetryableError(`${where} was aborted by shutdown`, { cause: err });
    const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    throw new RetryableError(`${where} failed: ${code && !errorMessage(err).includes(code) ? `${code} ` : ''}${errorMessage(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
    call.signal?.removeEventListener('abort', onShutdown);
  }
}

/**
 * null when the response means success, else the error to report:
 * 2xx ok; 404/410 on DELETE ok (already gone); 408, 425, 429 and 5xx retryable (Retry-After
 * honoured as retryAfterMs); any other status permanent, with the status and a body snippet.
 */
export function classifyResponse(method: string, url: string, res: HttpResponse, secrets: string[] = []): RetryableError | PermanentError | null {
  const { status } = res;
  if (status >= 200 && status < 300) return null;
  if (method === 'DELETE' && (status === 404 || status === 410)) return null;
  const body = snippet(res.text, secrets);
  const msg = `${method} ${redactUrl(url)} answered HTTP ${status}${body ? `: ${body}` : ''}`;
  const details = { status, url: redactUrl(url) };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    return new RetryableError(msg, { details, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  if (status >= 300 && status < 400) {
    const loc = res.headers.location;
    return new PermanentError(`${msg} (redirect to ${Array.isArray(loc) ? loc[0] : loc ?? 'nowhere'}; redirects are not followed: configure the final URL)`, { details });
  }
  return new PermanentError(msg, { details });
}

/** Base URL joined with a path (`http://h/hooks` + `/bridges/7` -> `http://h/hooks/bridges/7`), keeping the base's query. */
export function joinUrl(base: string, path: string): string {
  if (!path) return base;
  const u = new URL(base);
  const [p, q] = path.split('?', 2) as [string, string | undefined];
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${p.replace(/^\/+/, '')}`;
  if (q) for (const [k, v] of new URLSearchParams(q)) u.searchParams.append(k, v);
  return u.toString();
}
