// Turns an S3Request's URL and Host into (bucket, key, query): path-style
// (`/bucket/key`) and virtual-host style (`bucket.s3.example.com/key`). Parsing
// is separate from handling (Garage's habit): handlers get values, not URLs.

import { S3Error } from './errors.js';

export interface RequestTarget {
  readonly bucket?: string;
  readonly key?: string;
  /** Decoded query parameters; the first value wins for repeated names. */
  readonly query: ReadonlyMap<string, string>;
  /** Path as sent (still percent-encoded), for SigV4 and error Resource. */
  readonly rawPath: string;
}

export const keyBytesMax = 1024;

function decode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch (error) {
    throw new S3Error('InvalidArgument', `Invalid URL encoding: ${component.slice(0, 64)}`, {}, { cause: error });
  }
}

export function parseQuery(rawQuery: string): Map<string, string> {
  const query = new Map<string, string>();
  if (rawQuery === '') return query;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decode((at < 0 ? pair : pair.slice(0, at)).replace(/\+/g, '%20'));
    const value = at < 0 ? '' : decode(pair.slice(at + 1).replace(/\+/g, '%20'));
    if (!query.has(name)) query.set(name, value);
  }
  return query;
}

/**
 * `virtualHostSuffixes`: domains under which the first label is a bucket, e.g.
 * `s3.localhost` makes `photos.s3.localhost:9000` address bucket `photos`.
 */
export function parseRequestTarget(rawUrl: string, host: string | undefined, virtualHostSuffixes: readonly string[]): RequestTarget {
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = parseQuery(queryAt < 0 ? '' : rawUrl.slice(queryAt + 1));
  if (!rawPath.startsWith('/')) throw new S3Error('InvalidRequest', 'Request target must start with /');
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  const suffix = virtualHostSuffixes.find((domain) => hostname.endsWith(`.${domain}`));
  if (suffix !== undefined) {
    const bucket = hostname.slice(0, hostname.length - suffix.length - 1);
    const key = rawPath.length > 1 ? decode(rawPath.slice(1)) : undefined;
    return { bucket, ...(key === undefined ? {} : { key }), query, rawPath };
  }
  const path = rawPath.slice(1);
  if (path === '') return { query, rawPath };
  const slash = path.indexOf('/');
  if (slash < 0) return { bucket: decode(path), query, rawPath };
  const bucket = decode(path.slice(0, slash));
  const key = path.slice(slash + 1);
  return { bucket, ...(key === '' ? {} : { key: decode(key) }), query, rawPath };
}

const bucketNamePattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** S3 bucket naming rules for new buckets. */
export function isValidBucketName(name: string): boolean {
  if (!bucketNamePattern.test(name)) return false;
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return false;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return false;
  return !name.startsWith('xn--') && !name.endsWith('-s3alias');
}

export function checkKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > keyBytesMax) throw new S3Error('KeyTooLongError');
  // NUL separates a key from its version suffix in metadata keys; XML cannot carry it anyway.
  if (key.includes('\u0000')) throw new S3Error('InvalidArgument', 'Object keys may not contain the NUL character', { ArgumentName: 'key' });
}
