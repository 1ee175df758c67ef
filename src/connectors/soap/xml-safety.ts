/**
 * XML safety for SOAP messages: no DOCTYPE (hence no entity expansion, no XXE, no billion
 * laughs), size limits, well-formedness checks with positions, escaping that refuses
 * characters XML 1.0 cannot carry, and a parser that keeps every value a string.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { FormatError, PermanentError } from '../../core/errors.js';

/** Characters XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
const INVALID_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const DOCTYPE_RE = /<!DOCTYPE|<!ENTITY/i;

/**
 * Escape a value for XML text or an attribute. Throws a PermanentError naming the field and
 * the code point when the value holds a character XML 1.0 cannot represent (e.g. U+0001):
 * no retry can fix that, the data must change.
 * @example escapeXml('a < b & "c"', 'state.note') // => 'a &lt; b &amp; &quot;c&quot;'
 */
export function escapeXml(value: string, where: string): string {
  const bad = INVALID_XML_CHAR.exec(value);
  if (bad) {
    const cp = bad[0].codePointAt(0)!;
    throw new PermanentError(
      `value of ${where} contains U+${cp.toString(16).toUpperCase().padStart(4, '0')} at character ${bad.index}, which XML 1.0 cannot carry; remove or replace it in the source record`,
      { details: { field: where, offset: bad.index } },
    );
  }
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Throws a PermanentError when a value (deep) holds a character XML 1.0 cannot carry. */
export function assertXmlSafeValues(value: unknown, where: string): void {
  if (typeof value === 'string') {
    escapeXml(value, where);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertXmlSafeValues(v, `${where}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertXmlSafeValues(v, `${where}.${k}`);
  }
}

/** Where a message came from, for error messages: `response of UpdatePermit from http://...`. */
export type XmlOrigin = string;

/** Refuse any DOCTYPE or ENTITY declaration (FormatError). */
export function assertNoDoctype(text: string, origin: XmlOrigin): void {
  const m = DOCTYPE_RE.exec(text);
  if (m) {
    throw new FormatError(`${origin} contains "${m[0]}" at byte offset ${Buffer.byteLength(text.slice(0, m.index))}; DOCTYPE and entity declarations are refused (XML entity expansion attacks)`, { details: { offset: m.index } });
  }
}

/** Check well-formedness; returns null or a one-line description with line and column. */
export function wellFormedProblem(text: string): string | null {
  if (text.trim() === '') return 'the body is empty';
  const r = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (r !== true) return `${r.err.msg} (line ${r.err.line}, column ${r.err.col})`;
  // The validator accepts undeclared entities; without a DOCTYPE only the predefined five exist.
  const noCdata = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, (m) => ' '.repeat(m.length));
  const bad = /&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)[^;\s<]{0,20};?/.exec(noCdata);
  if (bad) {
    const lines = noCdata.slice(0, bad.index).split('\n');
    return `undeclared entity reference "${bad[0]}" (line ${lines.length}, column ${lines[lines.length - 1]!.length + 1})`;
  }
  return null;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Only the five predefined entities and character references: DOCTYPEs are refused before parsing.
  processEntities: true,
  htmlEntities: true, // also decodes numeric character references (&#65;)
});

/** Parse XML (already checked for DOCTYPE) into plain objects; every value stays a string. */
export function parseXmlStrings(text: string): Record<string, unknown> {
  return parser.parse(text) as Record<string, unknown>;
}
