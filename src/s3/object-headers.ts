// Object metadata in and out of HTTP headers: content headers kept verbatim,
// x-amz-meta-* user metadata (2 KiB limit, as AWS), and the response headers
// of GET/HEAD including response-* overrides.

import type { VersionRecord } from '../meta/records.js';
import { checksumHeaderName, parseChecksumAlgorithm } from './checksums.js';
import { S3Error } from './errors.js';
import type { HeaderMap } from './http.js';
import { httpDate } from './http-dates.js';

export const storedContentHeaders = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;
export const userMetadataBytesMax = 2 * 1024;
export const defaultContentType = 'binary/octet-stream';

export interface ObjectMetadata {
  readonly contentType: string;
  readonly headers: Record<string, string>;
  readonly userMetadata: Record<string, string>;
}

/** Storage classes S3 knows; every object here is stored (and reported) as STANDARD. */
const storageClasses = new Set(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'GLACIER_IR', 'SNOW', 'EXPRESS_ONEZONE']);

export function metadataFromHeaders(headers: HeaderMap): ObjectMetadata {
  const storageClass = headers['x-amz-storage-class'];
  if (storageClass !== undefined && !storageClasses.has(storageClass)) throw new S3Error('InvalidStorageClass', undefined, { StorageClassRequested: storageClass });
  const stored: Record<string, string> = {};
  for (const name of storedContentHeaders) {
    let value = headers[name];
    if (name === 'content-encoding' && value !== undefined) {
      // aws-chunked is transport framing, not a property of the object.
      value = value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== '' && part.toLowerCase() !== 'aws-chunked')
        .join(', ');
      if (value === '') value = undefined;
    }
    if (value !== undefined) stored[name] = value;
  }
  const userMetadata: Record<string, string> = {};
  let metadataBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const key = name.slice('x-amz-meta-'.length);
    userMetadata[key] = value;
    metadataBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (metadataBytes > userMetadataBytesMax) {
    throw new S3Error('MetadataTooLarge', undefined, { Size: String(metadataBytes), MaxSizeAllowed: String(userMetadataBytesMax) });
  }
  return { contentType: headers['content-type'] ?? defaultContentType, headers: stored, userMetadata };
}

const responseOverrides: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

function checksumTypeOf(version: VersionRecord): 'COMPOSITE' | 'FULL_OBJECT' | undefined {
  const values = Object.values(version.checksums);
  if (values.length === 0) return undefined;
  return values.some((value) => /-\d+$/.test(value)) ? 'COMPOSITE' : 'FULL_OBJECT';
}

/** Headers describing `version` on GET and HEAD. */
export function objectResponseHeaders(
  version: VersionRecord,
  query: ReadonlyMap<string, string>,
  requestHeaders: HeaderMap,
  isRange: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    etag: version.etag,
    'last-modified': httpDate(version.createdMs),
    'content-type': version.contentType,
    'accept-ranges': 'bytes',
    ...version.headers,
  };
  for (const [name, value] of Object.entries(version.userMetadata)) headers[`x-amz-meta-${name}`] = value;
  const tagCount = Object.keys(version.tags ?? {}).length;
  if (tagCount > 0) headers['x-amz-tagging-count'] = String(tagCount);
  for (const [parameter, name] of Object.entries(responseOverrides)) {
    const value = query.get(parameter);
    if (value !== undefined) headers[name] = value;
  }
  // The checksum type is reported for part reads; a whole-object checksum
  // value describes the whole body only, never a range.
  const type = checksumTypeOf(version);
  if (type !== undefined && query.has('partNumber')) headers['x-amz-checksum-type'] = type;
  if (!isRange && requestHeaders['x-amz-checksum-mode']?.toUpperCase() === 'ENABLED') {
    for (const [algorithmName, value] of Object.entries(version.checksums)) {
      const algorithm = parseChecksumAlgorithm(algorithmName);
      if (algorithm === undefined) continue;
      headers[checksumHeaderName(algorithm)] = value;
      headers['x-amz-checksum-type'] = /-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT';
    }
  }
  return headers;
}
