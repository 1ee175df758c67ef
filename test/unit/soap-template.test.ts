import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, PermanentError } from '../../src/core/errors.js';
import { compileTemplate } from '../../src/connectors/soap/soap-template.js';
import { compileInput } from '../../src/connectors/soap/soap-input.js';

const SEED = '<PermitUpdate><PermitNumber>{{key}}</PermitNumber>{{#each changed}}<Field name="{{@name}}">{{@value}}</Field>{{/each}}</PermitUpdate>';

test('the seed\'s PermitUpdate: one Field per changed field', () => {
  const t = compileTemplate(SEED, 'update.template');
  assert.equal(t.render({ key: '123', changed: { status: 'APPROVED' } }), '<PermitUpdate><PermitNumber>123</PermitNumber><Field name="status">APPROVED</Field></PermitUpdate>');
  assert.equal(t.render({ key: '123', changed: { status: 'A', fee: 12.5, paid: true, note: null } }),
    '<PermitUpdate><PermitNumber>123</PermitNumber><Field name="status">A</Field><Field name="fee">12.5</Field><Field name="paid">true</Field><Field name="note"></Field></PermitUpdate>');
});

test('every value is escaped, in text and in attributes', () => {
  const t = compileTemplate('<a x="{{v}}">{{v}}</a>{{#each m}}<f n="{{@name}}">{{@value}}</f>{{/each}}', 't');
  assert.equal(t.render({ v: `<&>"'`, m: { 'a"b': '</f>' } }), '<a x="&lt;&amp;&gt;&quot;&apos;">&lt;&amp;&gt;&quot;&apos;</a><f n="a&quot;b">&lt;/f&gt;</f>');
});

test('characters XML 1.0 cannot carry are a PermanentError naming the field', () => {
  const t = compileTemplate(SEED, 't');
  assert.throws(() => t.render({ key: '1', changed: { note: 'a\u0001b' } }), (e: unknown) => e instanceof PermanentError && /changed\.note contains U\+0001 at character 1/.test(e.message));
  assert.throws(() => t.render({ key: 'k\uFFFE', changed: {} }), /key contains U\+FFFE/);
  // Tab, newline, carriage return and astral characters are fine.
  assert.equal(compileTemplate('{{v}}', 't').render({ v: 'a\tb\nc\r😀' }), 'a\tb\nc\r😀');
});

test('#if renders only present values; objects render as JSON', () => {
  const t = compileTemplate('{{#if state.a}}<A>{{state.a}}</A>{{/if}}{{#if state.b}}<B/>{{/if}}<C>{{state.c}}</C>', 't');
  assert.equal(t.render({ state: { a: 'x', b: '', c: { z: 1, y: [2] } } }), '<A>x</A><C>{&quot;y&quot;:[2],&quot;z&quot;:1}</C>');
});

test('template mistakes are ConfigErrors with line and column', () => {
  const bad: Array<[string, RegExp]> = [
    ['<a>\n{{#each changed}}', /\{\{#each\}\} is never closed at line 2, column 1/],
    ['{{/each}}', /does not close an open/],
    ['{{#loop x}}{{/loop}}', /unknown block "\{\{#loop\}\}"/],
    ['{{@value}}', /only valid inside \{\{#each\}\}/],
    ['{{nope}}', /unknown variable "nope"; known: key, changed/],
    ['{{ key }} }}', /stray "\}\}"/],
    ['{{#each}}{{/each}}', /needs a path/],
  ];
  for (const [src, re] of bad) {
    assert.throws(() => compileTemplate(src, 'to.operations.update.template', ['key', 'changed']), (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.message.startsWith('to.operations.update.template: '), src);
  }
});

test('WSDL inputs: a lone {{path}} keeps absence (omit) and null (xsi:nil); mixed text renders', () => {
  const f = compileInput({ PermitNumber: '{{key}}', Status: '{{changed.Status}}', Address: '{{changed.Address}}', Note: 'by {{pipeline}} & co', Fixed: 5, Permit: { Nested: '{{state.Valuation}}' } }, 'input');
  assert.deepEqual(f({ key: '007', changed: { Address: null }, pipeline: 'p<1>', state: { Valuation: '12345678901234567890.123456789' } }), {
    PermitNumber: '007', Address: null, Note: 'by p<1> & co', Fixed: '5', Permit: { Nested: '12345678901234567890.123456789' },
  });
  assert.throws(() => compileInput({ a: () => 1 }, 'from.input'), /from\.input\.a: .* is not a valid input value/);
});
