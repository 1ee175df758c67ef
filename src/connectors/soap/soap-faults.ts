/**
 * SOAP fault extraction and classification. A Client/Sender fault is permanent (the request
 * itself is wrong), a Server/Receiver fault retryable; override rules on faultcode /
 * faultstring decide first. HTTP statuses without a fault are classified like the HTTP sink.
 */
import { FormatError, PermanentError, RetryableError, type HmsError } from '../../core/errors.js';
import type { FaultRule } from './soap-options.js';
import { assertNoDoctype, parseXmlStrings, wellFormedProblem } from './xml-safety.js';

/** A fault as read from a SOAP 1.1 or 1.2 response. */
export interface SoapFault {
  /** Fault code as sent, e.g. `SOAP-ENV:Client`, or `env:Sender` (+ ` / subcode`) for 1.2. */
  code: string;
  /** faultstring (1.1) or Reason/Text (1.2). */
  text: string;
  /** Detail as compact text, when present. */
  detail?: string;
}

/** What a raw HTTP exchange looked like (enough to classify it). */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function str(v: unknown): string {
  if (v == null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(str).join(' ');
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('#text' in o) return str(o['#text']);
    return JSON.stringify(o);
  }
  return String(v);
}

/** The fault in a SOAP response body, or null when the body holds none (or is not XML). */
export function extractFault(text: string): SoapFault | null {
  if (!/Fault/.test(text) || wellFormedProblem(text) !== null) return null;
  const doc = parseXmlStrings(text);
  const body = (doc.Envelope as Record<string, unknown> | undefined)?.Body as Record<string, unknown> | undefined;
  const fault = body?.Fault as Record<string, unknown> | undefined;
  if (!fault || typeof fault !== 'object') return null;
  if ('faultcode' in fault || 'faultstring' in fault) {
    const detail = fault.detail === undefined ? undefined : str(fault.detail);
    return { code: str(fault.faultcode), text: str(fault.faultstring), ...(detail ? { detail } : {}) };
  }
  const codeObj = fault.Code as Record<string, unknown> | undefined;
  const sub = (codeObj?.Subcode as Record<string, unknown> | undefined)?.Value;
  const code = str(codeObj?.Value) + (sub ? ` / ${str(sub)}` : '');
  const reason = (fault.Reason as Record<string, unknown> | undefined)?.Text;
  const detail = fault.Detail === undefined ? undefined : str(fault.Detail);
  return { code, text: str(reason), ...(detail ? { detail } : {}) };
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return (i < 0 ? qname : qname.slice(i + 1)).trim();
}

/** Does a rule pattern (`/regex/flags` or a case-insensitive substring) match? */
export function patternMatches(pattern: string, value: string): boolean {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (m) return new RegExp(m[1]!, m[2]).test(value);
  return value.toLowerCase().includes(pattern.toLowerCase());
}

/** The first rule whose given patterns all match the fault, or undefined. */
export function matchFaultRule(fault: SoapFault, rules: readonly FaultRule[]): FaultRule | undefined {
  return rules.find((r) =>
    (r.match.faultcode === undefined || patternMatches(r.match.faultcode, fault.code)) &&
    (r.match.faultstring === undefined || patternMatches(r.match.faultstring, fault.text)));
}

/**
 * Turn a fault into the error that steers the job: rules first, then the fault code
 * (Client/Sender/VersionMismatch/MustUnderstand/DataEncodingUnknown: permanent;
 * Server/Receiver and unknown codes: retryable, the bounded retry count still dead-letters).
 */
export function faultToError(fault: SoapFault, rules: readonly FaultRule[], where: string): HmsError {
  const message = `SOAP fault from ${where}: ${fault.code}: ${fault.text}${fault.detail ? ` (detail: ${fault.detail.slice(0, 500)})` : ''}`;
  const details = { faultcode: fault.code, faultstring: fault.text };
  const rule = matchFaultRule(fault, rules);
  if (rule) {
    return rule.retry
      ? new RetryableError(`${message} [retryable by fault rule]`, { details, ...(rule.retryAfter !== undefined ? { retryAfterMs: rule.retryAfter } : {}) })
      : new PermanentError(`${message} [permanent by fault rule]`, { details });
  }
  const code = localName(fault.code.split(' / ')[0]!);
  const cls = code.split('.')[0]!;
  if (['Client', 'Sender', 'VersionMismatch', 'MustUnderstand', 'DataEncodingUnknown'].includes(cls)) {
    return new PermanentError(message, { details });
  }
  return new RetryableError(message, { details });
}

function retryAfterMs(headers: RawResponse['headers']): number | undefined {
  const raw = headers['retry-after'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/**
 * Classify a raw SOAP response: returns an error to throw, or null when it is a usable
 * (well-formed, fault-free, 2xx) answer. `where` names the call for messages.
 */
export function responseError(res: RawResponse, rules: readonly FaultRule[], where: string, opts: { allowEmpty?: boolean } = {}): HmsError | null {
  const { status, text } = res;
  const ok = status >= 200 && status < 300;
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    // A proxy's HTML error page (<!DOCTYPE html>) on a 5xx is an outage, not an attack.
    if (status >= 500 || status === 429) return new RetryableError(`HTTP ${status} from ${where} with a non-SOAP body: ${snippet(text)}`, { retryAfterMs: retryAfterMs(res.headers) });
    if (status === 401 || status === 403) return new PermanentError(`HTTP ${status} from ${where}: authentication or authorisation failed; check basicAuth / wsSecurity / tls of the system`);
    // A 4xx HTML page (wrong URL, gateway refusal) is not parsed either; say what it is, not "attack".
    if (!ok) return new FormatError(`HTTP ${status} from ${where} with a non-SOAP body (DOCTYPE, not parsed): ${snippet(text)}; check the endpoint URL`, { details: { status } });
    try {
      assertNoDoctype(text, `response from ${where}`);
    } catch (e) {
      return e as FormatError;
    }
  }
  const fault = extractFault(text);
  if (fault) return faultToError(fault, rules, where);
  if (status === 429 || status === 503 || status === 502 || status === 504 || status === 408) {
    return new RetryableError(`HTTP ${status} from ${where}: ${snippet(text) || 'no body'}`, { retryAfterMs: retryAfterMs(res.headers) });
  }
  if (status >= 500) return new RetryableError(`HTTP ${status} from ${where}: ${snippet(text) || 'no body'}`);
  if (status === 401 || status === 403) return new PermanentError(`HTTP ${status} from ${where}: authentication or authorisation failed; check basicAuth / wsSecurity / tls of the system`);
  if (!ok) return new PermanentError(`HTTP ${status} from ${where}: ${snippet(text) || 'no body'}`);
  if (opts.allowEmpty && text.trim() === '') return null;
  const problem = wellFormedProblem(text);
  // A garbled answer may be a transient glitch (truncated by a proxy): retry, bounded.
  if (problem) return new RetryableError(`malformed XML response from ${where}: ${problem}: ${snippet(text)}`, { cause: new FormatError(problem) });
  return null;
}
