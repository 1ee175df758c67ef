import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exactAsDouble, parseJsonLossless } from '../../src/formats/json/lossless-json.js';

test('lossless: numbers a double holds exactly stay numbers, the others become their text', () => {
  assert.deepEqual(
    parseJsonLossless('{"a":1,"b":9007199254740993,"c":"9007199254740993 \\" 1","d":12345678901234567890.123456789,"e":[0.1,-1.5e3,1.50,1e400,0.30000000000000004,-0,1e-400]}'),
    { a: 1, b: '9007199254740993', c: '9007199254740993 " 1', d: '12345678901234567890.123456789', e: [0.1, -1500, 1.5, '1e400', 0.30000000000000004, -0, '1e-400'] },
  );
  assert.deepEqual(parseJsonLossless('{"a": 12345678901234567890, "b": 1.5, "c": "9007199254740993", "d": [0.1, -3, 1e3], "e": 0.10000000000000000001}'),
    { a: '12345678901234567890', b: 1.5, c: '9007199254740993', d: [0.1, -3, 1000], e: '0.10000000000000000001' });
  assert.deepEqual(parseJsonLossless('{"s": "quote \\" 123456789012345678901 inside", "n": 12.50}'), { s: 'quote " 123456789012345678901 inside', n: 12.5 });
  assert.equal(parseJsonLossless('9007199254740993'), '9007199254740993');
  assert.equal(parseJsonLossless('9007199254740991'), 9007199254740991);
  assert.equal(parseJsonLossless('-9007199254740993'), '-9007199254740993');
  // an exponent literal is judged by its value too: 1.2345678901234567890e5 has digits a double drops
  assert.equal(parseJsonLossless('1.2345678901234567890e5'), '1.2345678901234567890e5');
  assert.equal(parseJsonLossless('1e21'), 1e21);
  assert.equal(parseJsonLossless('123456789012345678e3'), '123456789012345678e3');
  // keys and escaped quotes are never touched
  assert.deepEqual(parseJsonLossless('{"12345678901234567890": "\\\\", "x": 99999999999999999999}'), { '12345678901234567890': '\\', x: '99999999999999999999' });
});

test("text: every number becomes its source text, as written", () => {
  assert.deepEqual(parseJsonLossless('{"F":12345678901234567890,"s":"a \\"1\\" 2","n":[-0.1,1e3,1.50,7],"t":true,"z":null}', { numbers: 'text' }),
    { F: '12345678901234567890', s: 'a "1" 2', n: ['-0.1', '1e3', '1.50', '7'], t: true, z: null });
});

test('invalid JSON throws the SyntaxError of JSON.parse, also for malformed numbers', () => {
  for (const bad of ['{"a":1,', '{"a":01}', '{"a":1.2.3}', '{"a":1e5e5}', '{"a":012345678901234567890}', '[-]', '[+1]', '[.5]']) {
    for (const numbers of ['lossless', 'text'] as const) assert.throws(() => parseJsonLossless(bad, { numbers }), SyntaxError, `${bad} (${numbers})`);
  }
});

test('exactAsDouble compares canonical decimal values', () => {
  for (const s of ['0', '-0', '0.0', '1.50', '1e3', '1E+3', '2.5e-7', '0.30000000000000004', '123456789012345', '9007199254740991', '1e21']) assert.equal(exactAsDouble(s), true, s);
  for (const s of ['9007199254740993', '0.1000000000000000000001', '1e400', '1e-400', '12345678901234567890']) assert.equal(exactAsDouble(s), false, s);
});
