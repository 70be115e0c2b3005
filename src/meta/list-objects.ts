// LIST as a range scan: keys of a bucket under a prefix, in byte order, folding
// keys that contain the delimiter after the prefix into common prefixes. A
// common prefix is jumped over with one seek, so a bucket of a million keys in
// one "folder" lists its folders in as many seeks as there are folders.

import type { KvReader } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { compareBytes, utf8 } from '../stdx/bytes.js';
import { decodeRecord } from '../stdx/codec.js';
import { objectKey, objectRange } from './keys.js';
import type { VersionRecord } from './records.js';

export interface ListObjectsQuery {
  readonly bucket: string;
  readonly prefix: string;
  readonly delimiter?: string;
  /** Only keys (and common prefixes) strictly greater than this. */
  readonly after?: string;
  /** Maximum keys + common prefixes returned (S3 max-keys), at most listKeysMax. */
  readonly maxKeys: number;
}

export interface ListObjectsResult {
  readonly contents: VersionRecord[];
  readonly commonPrefixes: string[];
  readonly isTruncated: boolean;
  /** The last key or common prefix returned: where the next page starts after. */
  readonly nextAfter?: string;
}

export const listKeysMax = 1000;

function greater(a: string, b: string): boolean {
  return compareBytes(utf8(a), utf8(b)) > 0;
}

export function listObjects(reader: KvReader, query: ListObjectsQuery): ListObjectsResult {
  assert(query.maxKeys >= 0 && query.maxKeys <= listKeysMax, `maxKeys ${query.maxKeys}`);
  if (query.maxKeys === 0) return { contents: [], commonPrefixes: [], isTruncated: false };
  const range = objectRange(query.bucket, query.prefix);
  const contents: VersionRecord[] = [];
  const commonPrefixes: string[] = [];
  let start = range.start;
  if (query.after !== undefined && greater(query.after, query.prefix)) {
    const afterKey = Buffer.concat([objectKey(query.bucket, query.after), Uint8Array.of(0)]);
    if (compareBytes(afterKey, start) > 0) start = afterKey;
  }
  let nextAfter: string | undefined;
  let isTruncated = false;
  const delimiter = query.delimiter === '' ? undefined : query.delimiter;
  scan: while (compareBytes(start, range.end) < 0) {
    for (const entry of reader.scan({ start, end: range.end })) {
      const version = decodeRecord(entry.value) as VersionRecord;
      const commonPrefix = delimiter === undefined ? undefined : commonPrefixOf(version.key, query.prefix, delimiter);
      if (contents.length + commonPrefixes.length >= query.maxKeys) {
        isTruncated = true;
        break scan;
      }
      if (commonPrefix === undefined) {
        contents.push(version);
        nextAfter = version.key;
        continue;
      }
      // Skip every key under this common prefix with one seek.
      start = objectRange(query.bucket, commonPrefix).end;
      if (query.after === undefined || greater(commonPrefix, query.after)) {
        commonPrefixes.push(commonPrefix);
        nextAfter = commonPrefix;
      }
      continue scan;
    }
    break;
  }
  return { contents, commonPrefixes, isTruncated, ...(isTruncated && nextAfter !== undefined ? { nextAfter } : {}) };
}

function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  assert(key.startsWith(prefix), 'listed key starts with the prefix');
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}
