// XML in and out. Out: a tiny builder with escaping (responses are small and
// regular). In: fast-xml-parser with validation, so malformed bodies become
// MalformedXML rather than exceptions from deep inside a handler.

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors.js';

export type XmlValue = string | number | boolean | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  readonly [name: string]: XmlValue;
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char]!);
}

function renderValue(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => renderValue(name, item)).join('');
  if (typeof value === 'object') return `<${name}>${renderChildren(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function renderChildren(node: XmlNode): string {
  return Object.entries(node)
    .map(([name, value]) => renderValue(name, value))
    .join('');
}

const s3Namespace = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** `<?xml …?><Root xmlns="…">children</Root>` */
export function renderXmlDocument(root: string, children: XmlNode, options: { namespace?: boolean } = {}): Uint8Array {
  const xmlns = options.namespace === false ? '' : ` xmlns="${s3Namespace}"`;
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<${root}${xmlns}>${renderChildren(children)}</${root}>`, 'utf8');
}

const parserOptions = {
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  processEntities: true,
  isArray: (name: string) => name === 'Object' || name === 'Part',
};
const parser = new XMLParser({ ...parserOptions, trimValues: true });
// Object keys may begin or end with spaces: trimming `<Key> a</Key>` would name
// (and delete) another object.
const untrimmedParser = new XMLParser({ ...parserOptions, trimValues: false });

/** Parses a request body; MalformedXML when it is not well-formed XML. */
export function parseXml(body: Uint8Array, options: { trimValues?: boolean } = {}): Record<string, unknown> {
  const text = Buffer.from(body).toString('utf8');
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the replacement package is not a dependency yet
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML');
  try {
    return (options.trimValues === false ? untrimmedParser : parser).parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new S3Error('MalformedXML', undefined, {}, { cause: error });
  }
}
