import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { extractFault, faultToError, patternMatches, responseError } from '../../src/connectors/soap/soap-faults.js';
import { faultRuleSchema } from '../../src/connectors/soap/soap-options.js';
import { decodeBody } from '../../src/connectors/soap/soap-transport.js';
import { assertNoDoctype, escapeXml, wellFormedProblem } from '../../src/connectors/soap/xml-safety.js';

const F11 = (code: string, text: string) => `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:${code}</faultcode><faultstring>${text}</faultstring><detail><e>d&amp;1</e></detail></s:Fault></s:Body></s:Envelope>`;
const F12 = (code: string, sub: string, text: string) => `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:${code}</env:Value><env:Subcode><env:Value>m:${sub}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">${text}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`;
const res = (status: number, text: string, headers: Record<string, string> = {}) => ({ status, text, headers });
const rule = (r: unknown) => faultRuleSchema.parse(r);

test('SOAP 1.1 and 1.2 faults are read', () => {
  assert.deepEqual(extractFault(F11('Client', 'bad &lt;permit&gt;')), { code: 's:Client', text: 'bad <permit>', detail: '{"e":"d&1"}' });
  assert.deepEqual(extractFault(F12('Receiver', 'Busy', 'try later')), { code: 'env:Receiver / m:Busy', text: 'try later' });
  assert.equal(extractFault('<s:Envelope xmlns:s="x"><s:Body><Ok/></s:Body></s:Envelope>'), null);
  assert.equal(extractFault('not xml Fault'), null);
});

test('Client/Sender permanent, Server/Receiver retryable, fault text in the message', () => {
  const where = 'UpdatePermit at http://x';
  assert.ok(faultToError({ code: 's:Client', text: 'no' }, [], where) instanceof PermanentError);
  assert.ok(faultToError({ code: 's:Client.Validation', text: 'no' }, [], where) instanceof PermanentError);
  assert.ok(faultToError({ code: 'env:Sender / m:X', text: 'no' }, [], where) instanceof PermanentError);
  assert.ok(faultToError({ code: 's:MustUnderstand', text: 'no' }, [], where) instanceof PermanentError);
  const server = faultToError({ code: 's:Server', text: 'CICS down' }, [], where);
  assert.ok(server instanceof RetryableError);
  assert.equal(server.message, 'SOAP fault from UpdatePermit at http://x: s:Server: CICS down');
  assert.ok(faultToError({ code: 'env:Receiver', text: '' }, [], where) instanceof RetryableError);
});

test('rules override by faultcode / faultstring, substring or /regex/, first match wins', () => {
  const rules = [rule({ match: { faultstring: 'locked' }, retry: true, retryAfter: '30s' }), rule({ match: { faultcode: '/Server$/' }, retry: false })];
  const locked = faultToError({ code: 's:Client', text: 'RECORD LOCKED' }, rules, 'w');
  assert.ok(locked instanceof RetryableError);
  assert.equal(locked.retryAfterMs, 30_000);
  assert.match(locked.message, /\[retryable by fault rule\]/);
  assert.ok(faultToError({ code: 's:Server', text: 'x' }, rules, 'w') instanceof PermanentError);
  assert.ok(patternMatches('/^a.c$/i', 'ABC'));
  assert.ok(!patternMatches('/^a.c$/', 'ABC'));
  assert.throws(() => rule({ match: {}, retry: true }), /give faultcode and\/or faultstring/);
});

test('HTTP statuses and bodies are classified', () => {
  assert.equal(responseError(res(200, '<a/>'), [], 'w'), null);
  assert.ok(responseError(res(500, F11('Client', 'x')), [], 'w') instanceof PermanentError, 'a fault wins over the 500');
  const busy = responseError(res(503, '', { 'retry-after': '7' }), [], 'w');
  assert.ok(busy instanceof RetryableError && busy.retryAfterMs === 7000);
  assert.ok(responseError(res(502, '<!DOCTYPE html><html/>'), [], 'w') instanceof RetryableError, 'proxy error page');
  assert.ok(responseError(res(200, '<!DOCTYPE x [<!ENTITY a "b">]><a>&a;</a>'), [], 'w') instanceof FormatError);
  const notFound = responseError(res(404, '<!DOCTYPE html><html><body>Not Found</body></html>'), [], 'w');
  assert.ok(notFound instanceof FormatError, 'a 4xx HTML page is dead-lettered unparsed');
  assert.match(notFound.message, /^HTTP 404 from w with a non-SOAP body \(DOCTYPE, not parsed\): <!DOCTYPE html>.*Not Found.*check the endpoint URL$/);
  assert.match(responseError(res(401, '<!DOCTYPE html><p>login</p>'), [], 'w')!.message, /HTTP 401 from w: authentication or authorisation failed/);
  assert.match(responseError(res(401, ''), [], 'w')!.message, /authentication/);
  assert.ok(responseError(res(404, 'nope'), [], 'w') instanceof PermanentError);
  const garbled = responseError(res(200, '<a><b></a>'), [], 'w');
  assert.ok(garbled instanceof RetryableError);
  assert.match(garbled.message, /malformed XML response from w: .*line 1/);
  assert.equal(responseError(res(200, ''), [], 'w', { allowEmpty: true }), null);
  assert.ok(responseError(res(200, ''), [], 'w') instanceof RetryableError);
});

test('XML safety helpers', () => {
  assert.throws(() => assertNoDoctype('<?xml version="1.0"?>\n<!DOCTYPE a>', 'response'), /"<!DOCTYPE" at byte offset 22/);
  assert.match(wellFormedProblem('<a>&lol;</a>')!, /undeclared entity reference "&lol;"/);
  assert.equal(wellFormedProblem('<a>&amp;&#65;&#x42;<![CDATA[& raw]]></a>'), null);
  assert.equal(escapeXml('007', 'k'), '007');
});

test('response bodies are read in the charset they declare (header, XML declaration, BOM), UTF-8 otherwise', () => {
  const latin1 = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><R>Jos\u00e9 M\u00fcller</R>', 'latin1');
  assert.match(decodeBody(latin1, 'text/xml; charset=ISO-8859-1', 'w'), /<R>José Müller<\/R>/);
  assert.match(decodeBody(latin1, 'text/xml', 'w'), /<R>José Müller<\/R>/, 'from the XML declaration');
  assert.match(decodeBody(Buffer.from([0x3c, 0x52, 0x3e, 0x80, 0x3c, 0x2f, 0x52, 0x3e]), 'text/xml; charset="windows-1252"', 'w'), /<R>€<\/R>/);
  assert.equal(decodeBody(Buffer.from('<R>é</R>', 'utf8'), 'application/soap+xml; charset=utf-8; action="x"', 'w'), '<R>é</R>');
  assert.equal(decodeBody(Buffer.from('<R>é</R>', 'utf8'), undefined, 'w'), '<R>é</R>');
  assert.equal(decodeBody(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<R>é</R>', 'utf16le')]), undefined, 'w'), '<R>é</R>');
  assert.throws(() => decodeBody(Buffer.from('<R/>'), 'text/xml; charset=x-klingon', 'GetPermits at http://c/p'), (e: unknown) => e instanceof FormatError && /GetPermits at http:\/\/c\/p declares charset "x-klingon"/.test(e.message));
});
