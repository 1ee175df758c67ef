/**
 * The `http` connector: a JSON sink (signed with Standard Webhooks, idempotency key,
 * status classification), an inbound webhook source that answers 2xx only after the durable
 * commit, and a REST polling source following a cursor.
 *
 * @example
 * systems:
 *   dashboard: { driver: http, url: http://127.0.0.1:3000/hooks, signingSecret: ${env:HOOK_SECRET} }
 * pipelines:
 *   bridges:
 *     to: { system: dashboard, collection: bridges, path: "/bridges/{key}" }
 */
import { z } from 'zod';
import { ConfigError, errorMessage, NotConnectedError, PermanentError } from '../../core/errors.js';
import { redactUrl } from '../../core/log.js';
import { defineConnector } from '../contract.js';
import { parseDuration } from '../sql/duration.js';
import { baseHeaders, createAgent, httpCall } from './http-client.js';
import { httpSinkSchema, httpSourceSchema, httpSystemSchema, type HttpSinkOptions, type HttpSourceOptions, type HttpSystem, type RestPollSourceOptions, type WebhookSourceOptions } from './http-schemas.js';
import { createHttpReader } from './http-reader.js';
import { HttpSink } from './http-sink.js';
import { RestPollSource } from './rest-poll-source.js';
import { WebhookSource } from './webhook-source.js';

function requireUrl(sys: HttpSystem, system: string, role: string): HttpSystem & { url: string } {
  if (!sys.url) throw new ConfigError(`system "${system}" (driver http) needs a url to be used as ${role}`, { path: `systems.${system}.url` });
  return sys as HttpSystem & { url: string };
}

/** Request timeout of a system in ms (default 10 s). */
export function timeoutOf(sys: HttpSystem, system = 'http'): number {
  return parseDuration(sys.timeout, `systems.${system}.timeout`, 10_000);
}

/** The HTTP connector descriptor (driver `http`). */
export const httpConnector = defineConnector<HttpSystem, HttpSourceOptions, HttpSinkOptions>({
  driver: 'http',
  description: 'HTTP/JSON: signed webhook sink, inbound webhook source, REST polling source, reader of a REST list (and get by key).',
  systemSchema: httpSystemSchema as unknown as z.ZodType<HttpSystem>,
  sourceSchema: httpSourceSchema as unknown as z.ZodType<HttpSourceOptions>,
  sinkSchema: httpSinkSchema as unknown as z.ZodType<HttpSinkOptions>,

  fromUrl(url) {
    return { url };
  },

  createSource(ctx) {
    const options = ctx.options ?? ({} as HttpSourceOptions);
    if ('listen' in options && options.listen) return new WebhookSource({ ...ctx, options: options as WebhookSourceOptions });
    return new RestPollSource({ ...ctx, systemConfig: requireUrl(ctx.systemConfig, ctx.system, 'a REST polling source'), options: options as RestPollSourceOptions }, timeoutOf(ctx.systemConfig, ctx.system));
  },

  createReader(ctx) {
    const options = ctx.options ?? ({} as HttpSourceOptions);
    if ('listen' in options && options.listen) throw new ConfigError(`the http reader of system "${ctx.system}" needs a REST list endpoint (from.path, cursorParam...); a webhook source only receives records, it cannot read them`, { path: 'from.listen' });
    return createHttpReader({ ...ctx, systemConfig: requireUrl(ctx.systemConfig, ctx.system, 'a reader'), options: options as RestPollSourceOptions }, timeoutOf(ctx.systemConfig, ctx.system));
  },

  createSink(ctx) {
    return new HttpSink(requireUrl(ctx.systemConfig, ctx.system, 'a target'), ctx.options, timeoutOf(ctx.systemConfig, ctx.system));
  },

  /** Any HTTP answer means reachable; 401/403 mean the credentials are refused. */
  async testConnection(cfg, { system }) {
    if (!cfg.url) return; // a webhook-only system listens; nothing to reach
    const timeoutMs = timeoutOf(cfg, system);
    const agent = createAgent(timeoutMs);
    try {
      const res = await httpCall({ method: 'HEAD', url: cfg.url, headers: baseHeaders(cfg), timeoutMs, dispatcher: agent });
      if (res.status === 401 || res.status === 403) throw new PermanentError(`system "${system}": ${redactUrl(cfg.url)} refused the credentials (HTTP ${res.status})`);
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      throw new NotConnectedError(`system "${system}" cannot be reached: ${errorMessage(err)}`, { cause: err });
    } finally {
      await agent.close();
    }
  },
});
