/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the signed content is
 * `${id}.${timestamp}.${body}`, HMAC-SHA256 with the base64-decoded secret (the part after
 * `whsec_`), sent as `webhook-signature: v1,<base64>` (several space-separated signatures may
 * be present during a key rotation) next to `webhook-id` and `webhook-timestamp` (Unix seconds).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../core/errors.js';

/** The key bytes of a `whsec_<base64>` secret (the prefix is optional). Throws a ConfigError without echoing the secret. */
export function decodeSigningSecret(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  if (key.length < 16) {
    throw new ConfigError('signingSecret must be "whsec_" followed by at least 16 base64-encoded random bytes (e.g. whsec_ + `openssl rand -base64 32`)', { path: 'signingSecret' });
  }
  return key;
}

export interface SignInput {
  /** webhook-id: unique per message, stable across retries (we use the idempotency key). */
  id: string;
  /** webhook-timestamp in Unix seconds. */
  timestamp: number;
  /** The exact body bytes sent. */
  body: string | Buffer;
  /** `whsec_...` secret. */
  secret: string;
}

/**
 * The `webhook-signature` header value for one message.
 * @example signWebhook({ id: 'msg_1', timestamp: 1700000000, body: '{}', secret }) // => 'v1,K5oZ...='
 */
export function signWebhook(input: SignInput): string {
  return signWithKey(decodeSigningSecret(input.secret), input);
}

/** {@link signWebhook} with the already decoded key (senders decode the secret once). */
export function signWithKey(key: Buffer, input: Omit<SignInput, 'secret'>): string {
  const mac = createHmac('sha256', key);
  mac.update(`${input.id}.${input.timestamp}.`);
  mac.update(input.body);
  return `v1,${mac.digest('base64')}`;
}

/** The three Standard Webhooks headers for one message. */
export function webhookHeaders(input: Omit<SignInput, 'timestamp' | 'secret'> & { timestamp?: number } & ({ secret: string } | { key: Buffer })): Record<string, string> {
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000);
  const key = 'key' in input ? input.key : decodeSigningSecret(input.secret);
  return { 'webhook-id': input.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWithKey(key, { id: input.id, timestamp, body: input.body }) };
}

export interface VerifyInput {
  /** Request headers (lower-case names, as node:http gives them). */
  headers: Record<string, string | string[] | undefined>;
  body: string | Buffer;
  secret: string;
  /** Allowed clock skew in seconds, both directions (default 300). */
  toleranceSec?: number;
  /** Current time in Unix seconds (for tests). */
  nowSec?: number;
}

export type VerifyResult = { ok: true; id: string; timestamp: number } | { ok: false; reason: string };

function header(h: VerifyInput['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Check a received message. Never throws for bad input: the reason says what is wrong,
 * in one sentence fit for a 401 response (it never contains the secret or the expected signature).
 */
export function verifyWebhook(input: VerifyInput): VerifyResult {
  const id = header(input.headers, 'webhook-id');
  const ts = header(input.headers, 'webhook-timestamp');
  const sig = header(input.headers, 'webhook-signature');
  const missing = [!id && 'webhook-id', !ts && 'webhook-timestamp', !sig && 'webhook-signature'].filter(Boolean);
  if (missing.length) return { ok: false, reason: `missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}: requests must be signed with the Standard Webhooks scheme` };
  if (!/^\d{1,12}$/.test(ts!)) return { ok: false, reason: `webhook-timestamp ${JSON.stringify(ts!.slice(0, 40))} is not Unix seconds` };
  const timestamp = Number(ts);
  const now = input.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = input.toleranceSec ?? 300;
  if (now - timestamp > tolerance) return { ok: false, reason: `webhook-timestamp is ${now - timestamp} s old, beyond the ${tolerance} s tolerance (stale or replayed message)` };
  if (timestamp - now > tolerance) return { ok: false, reason: `webhook-timestamp is ${timestamp - now} s in the future, beyond the ${tolerance} s tolerance (check the sender's clock)` };
  const expected = Buffer.from(signWebhook({ id: id!, timestamp, body: input.body, secret: input.secret }).slice(3), 'base64');
  for (const part of sig!.split(' ')) {
    const [version, value] = part.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const got = Buffer.from(value, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true, id: id!, timestamp };
  }
  return { ok: false, reason: 'webhook-signature does not match the message (wrong secret, or the body was altered)' };
}
