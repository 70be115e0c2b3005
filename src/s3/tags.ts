// Tag sets: parsing (x-amz-tagging header, Tagging XML), S3's limits, and
// rendering. Object tags: at most 10; bucket tags: at most 50; keys 1–128
// characters, values 0–256, no key twice.

import type { TagSet } from '../meta/records.js';
import { S3Error } from './errors.js';
import { parseQuery } from './request-target.js';
import { parseXml } from './xml.js';
import type { XmlNode } from './xml.js';

export const objectTagsMax = 10;
export const bucketTagsMax = 50;

/** Length in Unicode code points, as S3 counts tag lengths. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function validated(pairs: readonly [string, string][], tagsMax: number): TagSet {
  if (pairs.length > tagsMax) throw new S3Error('InvalidTag', `Tags cannot be more than ${tagsMax}`);
  const tags: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key.length === 0 || codePoints(key) > 128) throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid');
    if (codePoints(value) > 256) throw new S3Error('InvalidTag', 'The TagValue you have provided is too long');
    if (Object.hasOwn(tags, key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    // Records are plain objects (msgpack): a key that names the prototype would vanish.
    if (key === '__proto__') throw new S3Error('InvalidTag', 'The TagKey __proto__ is reserved');
    tags[key] = value;
  }
  return tags;
}

/** The x-amz-tagging header: a URL-encoded query string. */
export function tagsFromHeader(value: string | undefined): TagSet | undefined {
  if (value === undefined) return undefined;
  const pairs: [string, string][] = [];
  for (const part of value.split('&')) {
    if (part === '') continue;
    const single = parseQuery(part);
    for (const pair of single) pairs.push(pair);
  }
  return validated(pairs, objectTagsMax);
}

export function tagsFromXml(body: Uint8Array, tagsMax: number): TagSet {
  const tagging = parseXml(body, { trimValues: false }).Tagging as { TagSet?: { Tag?: unknown } | string } | undefined;
  if (typeof tagging !== 'object') throw new S3Error('MalformedXML');
  const raw = typeof tagging.TagSet === 'object' ? tagging.TagSet.Tag : undefined;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const pairs = list.map((entry: unknown): [string, string] => {
    const tag = entry as { Key?: unknown; Value?: unknown };
    if (typeof tag.Key !== 'string') throw new S3Error('MalformedXML');
    return [tag.Key, typeof tag.Value === 'string' ? tag.Value : ''];
  });
  return validated(pairs, tagsMax);
}

export function tagSetXml(tags: TagSet | undefined): XmlNode {
  return { TagSet: { Tag: Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value })) } };
}
