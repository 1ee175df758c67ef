import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileConverter, convertValue, CONVERTERS, listConverterNames } from '../../src/core/converters.js';
import { ConfigError, ValidationError } from '../../src/core/errors.js';

const conv = (spec: string, v: unknown) => convertValue(v, spec);
const fails = (spec: string, v: unknown, re: RegExp) =>
  assert.throws(() => conv(spec, v), (e: unknown) => e instanceof ValidationError && re.test((e as Error).message), `${spec} on ${JSON.stringify(v)}`);

test('date: legacy patterns to ISO', () => {
  assert.equal(conv('date:yyyyMMdd', '20240229'), '2024-02-29');
  assert.equal(conv('date:yyyyMMdd', 20240301), '2024-03-01');
  assert.equal(conv('date:yyyyMMdd', ' 20240301 '), '2024-03-01');
  assert.equal(conv('date:ddMMyyyy', '31122023'), '2023-12-31');
  assert.equal(conv('date:MMddyyyy', '12312023'), '2023-12-31');
  assert.equal(conv('date:yyyy-MM-dd', '2023-12-31'), '2023-12-31');
  assert.equal(conv('date:dd/MM/yyyy', '05/01/2023'), '2023-01-05');
  assert.equal(conv('date:yyyyDDD', '2024060'), '2024-02-29');
  assert.equal(conv('date:yyyyDDD', '2023365'), '2023-12-31');
  assert.equal(conv('date:CYYMMDD', '1230115'), '2023-01-15');
  assert.equal(conv('date:CYYMMDD', '0991231'), '1999-12-31');
  assert.equal(conv('date:CYYMMDD', 991231), '1999-12-31', 'numeric CYYMMDD loses its leading zero');
  assert.equal(conv('date', '20240101'), '2024-01-01', 'yyyyMMdd is the default pattern');
});

test('date: two-digit years use a pivot (default 50)', () => {
  assert.equal(conv('date:yyMMdd', '491231'), '2049-12-31');
  assert.equal(conv('date:yyMMdd', '500101'), '1950-01-01');
  assert.equal(conv('date:yyMMdd@pivot=30', '450101'), '1945-01-01');
  assert.equal(conv('toDate:yyMMdd', '2049-12-31'), '491231');
  fails('toDate:yyMMdd', '2050-01-01', /year 2050 does not fit a two-digit year \(window 1950\.\.2049\)/);
});

test('date: "no date" values are null, impossible dates are errors', () => {
  for (const v of ['00000000', '99999999', '', '   ', null, undefined, 0]) assert.equal(conv('date:yyyyMMdd', v), null, JSON.stringify(v));
  assert.equal(conv('date:CYYMMDD', '0000000'), null);
  assert.equal(conv('date:yyyy-MM-dd', '0000-00-00'), null);
  fails('date:yyyyMMdd', '20230231', /"20230231" is not a valid date in the form yyyyMMdd: day 31 is out of range 1\.\.28 for February 2023/);
  fails('date:yyyyMMdd', '20231301', /month 13 is out of range/);
  fails('date:yyyyMMdd', '2023011', /expected 8 characters/);
  fails('date:yyyyMMdd', '2023AB01', /is not digits/);
  fails('date:yyyy-MM-dd', '2023/01/01', /expected "-" at position 5/);
  fails('date:yyyyDDD', '2023366', /day of year 366 is out of range 1\.\.365 for 2023/);
  fails('date:yyyyMMdd', { d: 1 }, /expected text or a number/);
  fails('date:yyyyMMdd', 2023.5, /whole non-negative number/);
});

test('toDate: ISO to legacy patterns', () => {
  assert.equal(conv('toDate:yyyyMMdd', '2024-02-29'), '20240229');
  assert.equal(conv('toDate:yyyyMMdd', '2024-02-29T10:00:00Z'), '20240229', 'a datetime gives its date part');
  assert.equal(conv('toDate:ddMMyyyy', '2023-12-31'), '31122023');
  assert.equal(conv('toDate:CYYMMDD', '2023-01-15'), '1230115');
  assert.equal(conv('toDate:CYYMMDD', '1999-12-31'), '0991231');
  assert.equal(conv('toDate:yyyyDDD', '2024-12-31'), '2024366');
  assert.equal(conv('toDate:yyyyMMdd', null), null);
  assert.equal(conv('toDate:yyyyMMdd', new Date(Date.UTC(2024, 0, 2))), '20240102');
  fails('toDate:yyyyMMdd', '2023-02-30', /day 30 is out of range/);
  fails('toDate:yyyyMMdd', '31/12/2023', /expected YYYY-MM-DD/);
  fails('toDate:yyyyMMdd', 20231231, /expected ISO text/);
  for (const iso of ['2000-02-29', '1999-01-01', '2023-12-31']) {
    for (const p of ['yyyyMMdd', 'CYYMMDD', 'yyyyDDD', 'ddMMyyyy']) assert.equal(conv(`date:${p}`, conv(`toDate:${p}`, iso)), iso, `${p} round trip of ${iso}`);
  }
});

test('time and toTime', () => {
  assert.equal(conv('time:HHmmss', '143005'), '14:30:05');
  assert.equal(conv('time:HHmm', '0930'), '09:30:00');
  assert.equal(conv('time:HHmmss', 93000), '09:30:00');
  assert.equal(conv('time:HHmmss', '000000'), '00:00:00', 'midnight is a time, not "no time"');
  assert.equal(conv('time:HH:mm', '07:15'), '07:15:00');
  assert.equal(conv('time:HHmmss', ''), null);
  fails('time:HHmmss', '246000', /hour 24 is out of range 0\.\.23/);
  fails('time:HHmm', '1260', /minute 60 is out of range/);
  assert.equal(conv('toTime:HHmmss', '14:30:05'), '143005');
  assert.equal(conv('toTime:HHmm', '09:30'), '0930');
  assert.equal(conv('toTime:HHmm', '09:30:59'), '0930');
  fails('toTime:HHmm', '9.30', /expected HH:mm or HH:mm:ss/);
});

test('datetime and toDatetime, with and without a fixed offset', () => {
  assert.equal(conv('datetime:yyyyMMddHHmmss', '20240229143000'), '2024-02-29T14:30:00');
  assert.equal(conv('datetime:yyyyMMddHHmmss@+01:00', '20240229143000'), '2024-02-29T14:30:00+01:00');
  assert.equal(conv('datetime:yyyyMMddHHmmss@Z', '20240229143000'), '2024-02-29T14:30:00Z');
  assert.equal(conv('datetime:yyyy-MM-dd-HH.mm.ss.SSS', '2024-02-29-14.30.00.123'), '2024-02-29T14:30:00.123');
  assert.equal(conv('datetime:yyyyMMddHHmmss', '00000000000000'), null);
  fails('datetime:yyyyMMddHHmmss', '20240229250000', /hour 25/);
  assert.equal(conv('toDatetime:yyyyMMddHHmmss', '2024-02-29T14:30:00'), '20240229143000');
  assert.equal(conv('toDatetime:yyyyMMddHHmmss', '2024-02-29T14:30:00+05:00'), '20240229143000', 'no pattern offset: wall-clock time as written');
  assert.equal(conv('toDatetime:yyyyMMddHHmmss@+01:00', '2024-02-29T23:30:00Z'), '20240301003000', 'converted to the pattern offset');
  assert.equal(conv('toDatetime:yyyyMMddHHmmss@Z', '2024-03-01T00:30:00+01:00'), '20240229233000');
  fails('toDatetime:yyyyMMddHHmmss', '2024-02-29', /expected YYYY-MM-DDTHH:mm:ss/);
});

test('datetime with an IANA time zone follows daylight saving', () => {
  const P = 'datetime:yyyyMMddHHmmss@Europe/Paris';
  assert.equal(conv(P, '20240115120000'), '2024-01-15T12:00:00+01:00');
  assert.equal(conv(P, '20240715120000'), '2024-07-15T12:00:00+02:00');
  assert.equal(conv(P, '20241027023000'), '2024-10-27T02:30:00+02:00', 'autumn overlap: the earlier (summer) offset');
  assert.equal(conv(P, '20241027033000'), '2024-10-27T03:30:00+01:00');
  assert.equal(conv(P, '20240331023000'), '2024-03-31T02:30:00+01:00', 'spring gap: the offset before the change');
  assert.equal(conv('datetime:yyyyMMddHHmmss@America/New_York', '20240115120000'), '2024-01-15T12:00:00-05:00');
  assert.equal(conv('datetime:yyyyMMddHHmmss@Asia/Kolkata', '20240115120000'), '2024-01-15T12:00:00+05:30');
  assert.equal(conv('datetime:yyyyMMddHHmmss@UTC', '20240115120000'), '2024-01-15T12:00:00Z');
  const T = 'toDatetime:yyyyMMddHHmmss@Europe/Paris';
  assert.equal(conv(T, '2024-01-15T11:00:00Z'), '20240115120000');
  assert.equal(conv(T, '2024-07-15T10:00:00Z'), '20240715120000');
  assert.equal(conv(T, '2024-07-15T06:00:00-04:00'), '20240715120000');
  assert.equal(conv(T, '2024-07-15T12:00:00'), '20240715120000', 'no offset in the value: wall-clock as written');
  for (const v of ['20240115120000', '20240715120000', '20241027033000']) assert.equal(conv(T, conv(P, v)), v, `round trip ${v}`);
  assert.throws(() => compileConverter('datetime:yyyyMMddHHmmss@Mars/Base'), (e: unknown) => e instanceof ConfigError && /unknown time zone "Mars\/Base".*IANA name/.test((e as Error).message));
  assert.throws(() => compileConverter('datetime:yyyyMMddHHmmss@+01:00,Europe/Paris'), /both a fixed offset and a time zone/);
});

test('date patterns are checked when compiled', () => {
  assert.throws(() => compileConverter('date:yyyyMMxx'), (e: unknown) => e instanceof ConfigError && /unknown letter "x" in date pattern "yyyyMMxx"/.test((e as Error).message));
  assert.throws(() => compileConverter('date:HHmm'), /must contain a year/);
  assert.throws(() => compileConverter('time:yyyyMMdd'), /must contain HH and mm/);
  assert.throws(() => compileConverter('date:yyMMdd@pivot=abc'), /unknown option "pivot=abc"/);
  assert.throws(() => compileConverter('date:yyyyMMdd@+01:00'), /unknown option/);
});

test('decimal: implied decimals to exact decimal strings', () => {
  assert.equal(conv('decimal:2', '0012345'), '123.45');
  assert.equal(conv('decimal:2', '5'), '0.05');
  assert.equal(conv('decimal:2', '-0012345'), '-123.45');
  assert.equal(conv('decimal:2', '0012345-'), '-123.45', 'trailing sign (COBOL display)');
  assert.equal(conv('decimal:2', '+100'), '1.00');
  assert.equal(conv('decimal:2', '-0000'), '0.00', 'no negative zero');
  assert.equal(conv('decimal:2', 12345), '123.45');
  assert.equal(conv('decimal:2', 12345n), '123.45');
  assert.equal(conv('decimal:2', '123.4'), '123.40', 'a value with a point is already scaled');
  assert.equal(conv('decimal:2', 123.45), '123.45');
  assert.equal(conv('decimal:0', '000123'), '123');
  assert.equal(conv('decimal:2', '98765432109876543210'), '987654321098765432.10', 'beyond 2^53 stays exact');
  assert.equal(conv('decimal:2', '  '), null);
  assert.equal(conv('decimal:2', null), null);
  fails('decimal:2', '12a4', /"12a4" is not a decimal number/);
  fails('decimal:2', '-12-', /is not a decimal number/);
  fails('decimal:2', '1.234', /more than 2 decimal places/);
  fails('decimal:2', Infinity, /not a finite number/);
  assert.throws(() => compileConverter('decimal:x'), /needs a whole number scale/);
});

test('toDecimal: decimals to implied-decimal digits', () => {
  assert.equal(conv('toDecimal:2', '123.45'), '12345');
  assert.equal(conv('toDecimal:2', '123.4'), '12340');
  assert.equal(conv('toDecimal:2', '-1.5'), '-150');
  assert.equal(conv('toDecimal:2', 7), '700');
  assert.equal(conv('toDecimal:2', 0.1 + 0.2), '30', 'the nearest double of 0.30 is accepted');
  assert.equal(conv('toDecimal:2:7', '-1.5'), '-0000150');
  assert.equal(conv('toDecimal:2:7', '123.45'), '0012345');
  assert.equal(conv('toDecimal:2', '1.230'), '123', 'trailing zeros beyond the scale are fine');
  fails('toDecimal:2', '1.234', /more than 2 decimal places and would lose precision/);
  fails('toDecimal:2', 1.005001, /more than 2 decimal places/);
  fails('toDecimal:2:4', '123.45', /needs 5 digits, more than the width 4/);
  for (const v of ['0.00', '-98765.43', '1.00', '123456789012345678.99']) assert.equal(conv('decimal:2', conv('toDecimal:2', v)), v, `round trip ${v}`);
});

test('number and integer', () => {
  assert.equal(conv('number', ' 42.5 '), 42.5);
  assert.equal(conv('number', '-1e3'), -1000);
  assert.equal(conv('number', '007'), 7);
  assert.equal(conv('number', 3), 3);
  assert.equal(conv('number', ''), null);
  fails('number', 'abc', /"abc" is not a number/);
  fails('number', true, /is not a number/);
  fails('number', '9007199254740993', /integer beyond 2\^53 .*use decimal:0/);
  assert.equal(conv('number', '9007199254740991'), 9_007_199_254_740_991);
  assert.equal(conv('integer', '00042'), 42);
  assert.equal(conv('integer', '12.00'), 12);
  assert.equal(conv('integer', -0), 0);
  fails('integer', '12.5', /is not a whole number/);
  fails('integer', 1e300, /beyond 2\^53/);
});

test('string, trim, pad, truncate, upper, lower', () => {
  assert.equal(conv('string', 42), '42');
  assert.equal(conv('string', true), 'true');
  assert.equal(conv('string', { a: 1 }), '{"a":1}');
  assert.equal(conv('string', null), null);
  assert.equal(conv('trim', '  A12  '), 'A12');
  assert.equal(conv('trimStart', '  A12  '), 'A12  ');
  assert.equal(conv('trimEnd', '  A12  '), '  A12');
  assert.equal(conv('trim', 5), 5, 'non-text passes through');
  assert.equal(conv('pad:5', 'AB'), 'AB   ');
  assert.equal(conv('padEnd:5:.', 'AB'), 'AB...');
  assert.equal(conv('padStart:8:0', 123), '00000123');
  assert.equal(conv('padStart:4', 'ABCD'), 'ABCD');
  fails('pad:3', 'ABCD', /"ABCD" is 4 characters, longer than the width 3 of pad:3 \(add truncate:3 before it to cut\)/);
  assert.equal(conv('truncate:3', 'ABCDEFG'), 'ABC');
  assert.equal(conv('upper', 'abc'), 'ABC');
  assert.equal(conv('lower', 'ABC'), 'abc');
  assert.throws(() => compileConverter('pad:3:ab'), /exactly one character/);
  assert.throws(() => compileConverter('trim:3'), /converter "trim" takes no arguments/);
});

test('boolean and toBoolean', () => {
  assert.equal(conv('boolean:Y/N', 'Y'), true);
  assert.equal(conv('boolean:Y/N', 'N '), false);
  assert.equal(conv('boolean:Y/N', ''), null);
  fails('boolean:Y/N', 'X', /"X" is neither "Y" \(true\) nor "N" \(false\)/);
  assert.equal(conv('boolean', '1'), true);
  assert.equal(conv('boolean', 'false'), false);
  assert.equal(conv('boolean', 0), false);
  fails('boolean', 'maybe', /is not a boolean/);
  assert.equal(conv('toBoolean:Y/N', true), 'Y');
  assert.equal(conv('toBoolean:Y/N', false), 'N');
  assert.equal(conv('toBoolean:1/0', 'true'), '1');
  assert.equal(conv('toBoolean:Y/N', null), null);
  fails('toBoolean:Y/N', 'yes', /"yes" is not a boolean/);
  assert.throws(() => compileConverter('boolean:Y'), /two different flags/);
});

test('nullIf and chains', () => {
  assert.equal(conv('nullIf:N/A', 'N/A'), null);
  assert.equal(conv('nullIf:N/A', 'n/a'), 'n/a');
  assert.equal(conv('nullIf:0', 0), null);
  assert.equal(conv('nullIf:', ''), null);
  assert.equal(conv('nullIf:a:b', 'a:b'), null, 'the literal may contain colons');
  assert.equal(convertValue('  20240102 ', ['trim', 'date:yyyyMMdd']), '2024-01-02');
  assert.equal(convertValue(' 00123 ', ['trim', 'nullIf:00000', 'decimal:1']), '12.3');
  assert.equal(convertValue('abc', ['upper', 'pad:5', 'nullIf:ABC  ']), null);
});

test('unknown converters are ConfigErrors listing the known ones', () => {
  assert.throws(() => compileConverter('dat:yyyyMMdd'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match((e as Error).message, /unknown converter "dat" \(did you mean "date"\?\); known converters are date, toDate, /);
    return true;
  });
  assert.throws(() => compileConverter(''), /is not a converter name/);
  const names = new Set(listConverterNames());
  for (const c of CONVERTERS) {
    assert.ok(c.description && c.example && c.syntax.startsWith(c.name), c.name);
    if (c.inverse) assert.ok(names.has(c.inverse), `inverse ${c.inverse} of ${c.name} exists`);
  }
});
