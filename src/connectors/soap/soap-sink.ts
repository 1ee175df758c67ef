/**
 * The soap sink: delivers each delta as one SOAP call, per op (insert, update, delete)
 * either a WSDL operation with a mapped input or an XML body template in an envelope.
 * Items go one at a time, in order (per-key order is the engine's promise; a SOAP service
 * seldom takes batches). Every value is XML-escaped and checked for XML 1.0 characters.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { abortReason } from '../abort.js';
import { ConfigError, PermanentError, RetryableError, errorMessage } from '../../core/errors.js';
import { keyValues } from '../../core/delta.js';
import type { Op } from '../../core/types.js';
import type { Sink, SinkContext, SinkItem, SinkResult } from '../contract.js';
import { buildEnvelope, openWsdlClient, postEnvelope, wsSecurityOf, type WsdlClient } from './soap-client.js';
import { compileInput } from './soap-input.js';
import { resolveSystemPaths, type OperationSpec, type SoapSinkOptions, type SoapSystemConfig } from './soap-options.js';
import { compileTemplate, type TemplateScope } from './soap-template.js';
import { createSoapTransport } from './soap-transport.js';
import { assertXmlSafeValues, wellFormedProblem } from './xml-safety.js';

/** Variables a sink template or input mapping can use. */
export const SINK_VARIABLES = ['key', 'keys', 'op', 'changed', 'state', 'before', 'collection', 'pipeline', 'jobId', 'version', 'idempotencyKey'] as const;

interface Plan {
  op: Op;
  /** Builds the call for one item and performs it. */
  send(item: SinkItem, scope: TemplateScope, signal?: AbortSignal): Promise<void>;
}

/** The scope templates see for one item. */
export function sinkScope(item: SinkItem): TemplateScope {
  const d = item.delta;
  return {
    key: d.key,
    keys: keyValues(d.key, item.keyFields),
    op: d.op,
    changed: d.changed,
    state: d.state ?? {},
    before: d.before ?? {},
    collection: item.collection,
    pipeline: item.pipeline,
    jobId: item.jobId,
    version: item.version,
    idempotencyKey: item.idempotencyKey,
  };
}

/** Default WSDL input when `input:` is not given: key fields plus changed fields / full state. */
function defaultInput(op: Op, scope: TemplateScope, wrap: string | undefined): Record<string, unknown> {
  const keys = scope.keys as Record<string, unknown>;
  const fields = op === 'delete' ? keys : op === 'insert' ? { ...keys, ...(scope.state as object) } : { ...keys, ...(scope.changed as object) };
  return wrap ? { [wrap]: fields } : fields;
}

function specFor(opts: SoapSinkOptions, op: Op): OperationSpec | undefined {
  const o = opts.operations;
  return o[op] ?? (op === 'delete' ? undefined : o.upsert);
}

/** Create the sink of one pipeline. */
export async function createSoapSink(ctx: SinkContext<SoapSystemConfig, SoapSinkOptions>): Promise<Sink> {
  const cfg = resolveSystemPaths(ctx.systemConfig, ctx.baseDir);
  const opts = ctx.options;
  const rules = [...opts.faults, ...cfg.faults];
  const transport = createSoapTransport(cfg);
  const templateMode = cfg.wsdl === undefined;
  const plans = new Map<Op, Plan>();
  const buildPlans = (client: WsdlClient | undefined): void => {
    const built = new Map<Op, Plan>();
    for (const op of ['insert', 'update', 'delete'] as const) {
      const spec = specFor(opts, op);
      if (!spec) continue;
      const where = `to.operations.${opts.operations[op] ? op : 'upsert'}`;
      built.set(op, client ? wsdlPlan(op, spec, where, client) : templatePlan(op, spec, where));
    }
    for (const [op, plan] of built) plans.set(op, plan);
  };
  if (!opts.operations.insert && !opts.operations.update && !opts.operations.delete && !opts.operations.upsert) {
    await transport.close();
    throw new ConfigError(`pipeline to system "${ctx.system}": to.operations names no operation; give at least update (or upsert)`, { path: 'to.operations' });
  }
  // WSDL mode: a service that is down at start must not stop the engine; the WSDL is then
  // loaded at the first delivery (each failed attempt is a retryable item error).
  let loading: Promise<void> | null = null;
  const ensureReady = (): Promise<void> => {
    if (plans.size > 0) return Promise.resolve();
    loading ??= openWsdlClient(cfg, transport, ctx.system).then(buildPlans).finally(() => { loading = null; });
    return loading;
  };
  try {
    if (templateMode) buildPlans(undefined);
    else await ensureReady();
  } catch (e) {
    if (!(e instanceof RetryableError)) {
      await transport.close();
      throw e;
    }
    ctx.logger.warn({ system: ctx.system, err: e }, `WSDL of system "${ctx.system}" not loaded yet (${e.message}); retrying at the first delivery`);
  }

  function wsdlPlan(op: Op, spec: OperationSpec, where: string, c: WsdlClient): Plan {
    if (!spec.operation) throw new ConfigError(`${where}.operation is missing; system "${ctx.system}" has a WSDL, so name its operation (known: ${c.operations.join(', ')})`, { path: `${where}.operation` });
    if (spec.template || spec.templateFile) throw new ConfigError(`${where}.template is for systems without wsdl; system "${ctx.system}" has one, so use operation + input`, { path: `${where}.template` });
    if (!c.operations.includes(spec.operation)) throw new ConfigError(`${where}.operation: "${spec.operation}" is not in the WSDL of system "${ctx.system}"; it declares: ${c.operations.join(', ')}`, { path: `${where}.operation` });
    const input = spec.input ? compileInput(spec.input, `${where}.input`, SINK_VARIABLES) : undefined;
    const operation = spec.operation;
    return {
      op,
      async send(_item, scope, signal) {
        const args = input ? input(scope) : defaultInput(op, scope, spec.wrap);
        assertXmlSafeValues(args, `${operation} input`);
        await c.call(operation, args, { signal, rules });
      },
    };
  }

  function templatePlan(op: Op, spec: OperationSpec, where: string): Plan {
    if (spec.operation || spec.input) throw new ConfigError(`${where}: operation/input need a WSDL; system "${ctx.system}" has none, so give template or templateFile`, { path: where });
    let src = spec.template;
    if (spec.templateFile) {
      try {
        src = readFileSync(path.resolve(ctx.baseDir ?? process.cwd(), spec.templateFile), 'utf8');
      } catch (e) {
        throw new ConfigError(`${where}.templateFile: cannot read "${spec.templateFile}": ${errorMessage(e)}`, { path: `${where}.templateFile`, cause: e });
      }
    }
    if (!src) throw new ConfigError(`${where}: give template (an XML body) or templateFile for system "${ctx.system}" (it has no wsdl)`, { path: `${where}.template` });
    if (/<!DOCTYPE|<!ENTITY/i.test(src)) throw new ConfigError(`${where}.template contains a DOCTYPE or ENTITY declaration; they are not allowed in SOAP messages`, { path: `${where}.template` });
    const tpl = compileTemplate(src, `${where}.template`, SINK_VARIABLES);
    const security = wsSecurityOf(cfg);
    const url = cfg.url!;
    const action = spec.soapAction ?? '';
    return {
      op,
      async send(_item, scope, signal) {
        const body = tpl.render(scope);
        const problem = wellFormedProblem(`<root>${body}</root>`);
        if (problem) throw new PermanentError(`${where}.template rendered XML that is not well-formed for key "${String(scope.key)}": ${problem}`);
        const envelope = buildEnvelope(body, cfg.soapVersion, security?.toXML() ?? '');
        await postEnvelope(transport, { url, envelope, version: cfg.soapVersion, action, signal, rules, what: `${action || 'POST'} at ${url} (system "${ctx.system}")` });
      },
    };
  }

  return {
    async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
      const results: SinkResult[] = [];
      try {
        await ensureReady();
      } catch (error) {
        return items.map(() => ({ ok: false, error }));
      }
      for (const item of items) {
        if (signal.aborted) {
          results.push({ ok: false, error: new RetryableError(`not sent: the delivery was cancelled (${abortReason(signal)}) before this call started`) });
          continue;
        }
        const plan = plans.get(item.delta.op);
        if (!plan) {
          results.push({ ok: false, error: new PermanentError(`no SOAP operation configured for ${item.delta.op} on system "${ctx.system}" (key "${item.delta.key}"); add to.operations.${item.delta.op}`) });
          continue;
        }
        try {
          // The call in flight is not cut when `signal` aborts: a SOAP service keeps working on a
          // request whose client went away and may apply it after a newer call for the same key.
          // The write ends once the call is answered (or reaches the system's own timeout).
          await plan.send(item, sinkScope(item));
          results.push({ ok: true });
        } catch (error) {
          results.push({ ok: false, error });
        }
      }
      return results;
    },
    close: () => transport.close(),
  };
}
