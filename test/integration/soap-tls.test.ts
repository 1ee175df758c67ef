/**
 * TLS client certificates: certificates made with openssl for this test only; an https
 * server that demands a client certificate signed by the test CA and forwards the SOAP call
 * to the real PHP county permit system (TLS termination, as a reverse proxy would do it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { RetryableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Sink, SinkResult } from '../../src/connectors/contract.js';
import { soapSinkSchema, soapSystemSchema } from '../../src/connectors/soap/soap-options.js';
import { createSoapSink } from '../../src/connectors/soap/soap-sink.js';
import { needCommand, tempDir } from '../helpers/services.js';
import { startPhpSoapServer, type PhpSoapServer } from '../helpers/php-soap-server.js';

const skip = (await needCommand('php', 'apt-get install -y php-cli php-soap')) || (await needCommand('openssl', 'apt-get install -y openssl'));

let php: PhpSoapServer;
let tmp: { dir: string; cleanup: () => void };
let proxy: https.Server;
let proxyUrl: string;
const sinks: Sink[] = [];

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: tmp.dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

async function sink(tls: Record<string, unknown> | undefined): Promise<Sink> {
  const s = await createSoapSink({
    system: 'county', systemConfig: soapSystemSchema.parse({ wsdl: `${php.baseUrl}/permits?wsdl`, url: `${proxyUrl}/permits`, ...(tls ? { tls } : {}) }), collection: 'permits',
    options: soapSinkSchema.parse({ operations: { insert: { operation: 'InsertPermit', wrap: 'Permit' } } }),
    keyFields: ['PermitNumber'], logger: silentLogger(), workDir: tmp.dir, baseDir: tmp.dir,
  });
  sinks.push(s);
  return s;
}

async function insert(s: Sink, key: string): Promise<SinkResult> {
  const [r] = await s.write([{ jobId: key, version: 1, idempotencyKey: key, pipeline: 'p', collection: 'permits', keyFields: ['PermitNumber'],
    delta: { op: 'insert', key, changed: { PermitNumber: key }, state: { PermitNumber: key, Status: 'TLS' }, base: null, fingerprint: '', sourceTs: 0 } }], new AbortController().signal);
  return r!;
}

describe('soap sink with a TLS client certificate', { skip }, () => {
  before(async () => {
    tmp = tempDir('hms-soap-tls-');
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=hms-sync test CA');
    writeFileSync(path.join(tmp.dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    writeFileSync(path.join(tmp.dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, subj] of [['server', '/CN=127.0.0.1'], ['client', '/CN=hms-sync']] as const) {
      openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    }
    php = await startPhpSoapServer();
    const target = new URL(php.baseUrl);
    const file = (f: string) => readFileSync(path.join(tmp.dir, f));
    proxy = https.createServer({ key: file('server.key'), cert: file('server.crt'), ca: file('ca.crt'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(up);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sinks) await s.close();
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await php?.close();
    tmp?.cleanup();
  });

  test('with the client certificate the call goes through; without it the handshake fails clearly and retryably', async () => {
    assert.deepEqual(await insert(await sink({ cert: 'client.crt', key: 'client.key', ca: 'ca.crt' }), 'TLS-1'), { ok: true });
    assert.equal(php.readStore().permits.find((p) => p.PermitNumber === 'TLS-1')?.Status, 'TLS');

    const noCert = await insert(await sink({ ca: 'ca.crt' }), 'TLS-2');
    assert.equal(noCert.ok, false);
    const err = (noCert as { error: Error }).error;
    assert.ok(err instanceof RetryableError, String(err));
    // TLS 1.3: the server refuses the missing client certificate after the handshake, by closing.
    assert.match(err.message, /TLS handshake .* failed|cannot reach .*other side closed/);

    const untrusted = await insert(await sink(undefined), 'TLS-3');
    assert.equal(untrusted.ok, false);
    assert.match((untrusted as { error: Error }).error.message, /TLS handshake .* failed.*(self[- ]signed|certificate)/i);
    assert.equal(php.readStore().permits.some((p) => p.PermitNumber !== 'TLS-1'), false, 'nothing else arrived');
  });
});
