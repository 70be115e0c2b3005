// Bucket versioning: PutBucketVersioning, GetBucketVersioning and
// ListObjectVersions (versions and delete markers, key and version-id markers,
// prefix, delimiter). An unversioned bucket lists its objects as "null"
// versions, as S3 does.

import { s3VersionId } from '../../meta/records.js';
import type { VersionRecord } from '../../meta/records.js';
import { assert } from '../../stdx/assert.js';
import type { RequestContext } from '../context.js';
import { requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { readBodyBytes } from '../request-body.js';
import { emptyResponse, xmlResponse } from '../response.js';
import { parseXml } from '../xml.js';
import type { XmlNode } from '../xml.js';

const versioningBodyBytesMax = 64 * 1024;
const listVersionsMax = 1000;

export async function putBucketVersioning(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  const document = parseXml(await readBodyBytes(context, versioningBodyBytesMax)).VersioningConfiguration;
  if (typeof document !== 'object' || document === null) throw new S3Error('MalformedXML');
  const status = (document as { Status?: unknown }).Status;
  if (status !== 'Enabled' && status !== 'Suspended') throw new S3Error('MalformedXML', 'Status must be Enabled or Suspended');
  const result = await context.services.meta.submit({ type: 'set_versioning', bucket: bucket.name, status });
  if (result.status === 'no_such_bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name });
  assert(result.status === 'ok', `set_versioning answered ${result.status}`);
  return emptyResponse(200);
}

export async function getBucketVersioning(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  return xmlResponse('VersioningConfiguration', { Status: bucket.versioning });
}

function owner(context: RequestContext, canonicalId: string): XmlNode {
  return { ID: canonicalId, DisplayName: context.services.users.byId(canonicalId)?.displayName ?? canonicalId };
}

function versionEntry(context: RequestContext, version: VersionRecord, isLatest: boolean): XmlNode {
  if (version.state === 'DELETE_MARKER') {
    return { Key: version.key, VersionId: s3VersionId(version), IsLatest: isLatest, LastModified: isoDate(version.createdMs), Owner: owner(context, version.owner) };
  }
  return {
    Key: version.key,
    VersionId: s3VersionId(version),
    IsLatest: isLatest,
    LastModified: isoDate(version.createdMs),
    ETag: version.etag,
    Size: version.sizeBytes,
    StorageClass: 'STANDARD',
    Owner: owner(context, version.owner),
  };
}

interface VersionPage {
  readonly entries: { version: VersionRecord; isLatest: boolean }[];
  readonly commonPrefixes: string[];
  readonly truncated: boolean;
}

/** Unversioned buckets: each object is its own latest "null" version. */
async function unversionedPage(context: RequestContext, bucket: string, prefix: string, delimiter: string, keyMarker: string, maxKeys: number): Promise<VersionPage> {
  const result = await context.services.meta.listObjects({
    bucket,
    prefix,
    ...(delimiter === '' ? {} : { delimiter }),
    ...(keyMarker === '' ? {} : { after: keyMarker }),
    maxKeys,
  });
  return { entries: result.contents.map((version) => ({ version, isLatest: true })), commonPrefixes: result.commonPrefixes, truncated: result.isTruncated };
}

async function versionedPage(
  context: RequestContext,
  bucket: string,
  query: { prefix: string; delimiter: string; keyMarker: string; versionIdMarker: string; maxKeys: number },
): Promise<VersionPage> {
  const entries: { version: VersionRecord; isLatest: boolean }[] = [];
  const commonPrefixes: string[] = [];
  const full = (): boolean => entries.length + commonPrefixes.length >= query.maxKeys;
  const meta = context.services.meta;
  // Resume strictly after one stored entry (the version-id-marker), or past
  // every version of the key-marker; then always after the last entry read.
  type Position = { startKey?: string; afterPrefix?: string; afterVersion?: { key: string; sequence: number } };
  let position: Position = {};
  let skipKey: string | undefined;
  let previousKey: string | undefined;
  if (query.keyMarker !== '') {
    const marker = query.versionIdMarker === '' ? undefined : await meta.getVersion(bucket, query.keyMarker, query.versionIdMarker);
    if (marker?.sequence !== undefined) {
      position = { afterVersion: { key: marker.key, sequence: marker.sequence } };
      previousKey = marker.key;
    } else {
      position = { startKey: query.keyMarker };
      skipKey = query.keyMarker;
    }
  }
  for (;;) {
    const batch = await meta.listVersions(bucket, { prefix: query.prefix, ...position, limit: listVersionsMax });
    let next: Position | undefined;
    for (const version of batch) {
      next = { afterVersion: { key: version.key, sequence: version.sequence! } };
      if (skipKey !== undefined && version.key === skipKey) continue;
      skipKey = undefined;
      const at = query.delimiter === '' ? -1 : version.key.indexOf(query.delimiter, query.prefix.length);
      if (at >= 0) {
        const commonPrefix = version.key.slice(0, at + query.delimiter.length);
        const alreadyListed = query.keyMarker !== '' && commonPrefix <= query.keyMarker;
        if (!alreadyListed) {
          if (full()) return { entries, commonPrefixes, truncated: true };
          commonPrefixes.push(commonPrefix);
        }
        next = { afterPrefix: commonPrefix };
        break;
      }
      if (full()) return { entries, commonPrefixes, truncated: true };
      entries.push({ version, isLatest: version.key !== previousKey });
      previousKey = version.key;
    }
    if (next === undefined || (batch.length < listVersionsMax && next.afterPrefix === undefined)) return { entries, commonPrefixes, truncated: false };
    assert(JSON.stringify(next) !== JSON.stringify(position), 'ListObjectVersions makes progress');
    position = next;
  }
}

export async function listObjectVersions(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'READ');
  const query = context.target.query;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  const versionIdMarker = query.get('version-id-marker') ?? '';
  const maxText = query.get('max-keys');
  if (maxText !== undefined && !/^\d+$/.test(maxText)) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer', { ArgumentName: 'max-keys' });
  const maxKeys = Math.min(maxText === undefined ? 1000 : Number(maxText), 1000);
  if (versionIdMarker !== '' && keyMarker === '') {
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { ArgumentName: 'version-id-marker' });
  }
  const page =
    maxKeys === 0
      ? { entries: [], commonPrefixes: [], truncated: false }
      : bucket.versioning === undefined
      ? await unversionedPage(context, bucket.name, prefix, delimiter, keyMarker, maxKeys)
      : await versionedPage(context, bucket.name, { prefix, delimiter, keyMarker, versionIdMarker, maxKeys });
  const last = page.entries.at(-1);
  const lastPrefix = page.commonPrefixes.at(-1);
  const nextKeyMarker = last !== undefined && (lastPrefix === undefined || last.version.key > lastPrefix) ? last.version.key : lastPrefix;
  return xmlResponse('ListVersionsResult', {
    Name: bucket.name,
    Prefix: prefix,
    KeyMarker: keyMarker,
    VersionIdMarker: versionIdMarker,
    NextKeyMarker: page.truncated ? nextKeyMarker : undefined,
    NextVersionIdMarker: page.truncated && last !== undefined && nextKeyMarker === last.version.key ? s3VersionId(last.version) : undefined,
    MaxKeys: maxKeys,
    Delimiter: delimiter === '' ? undefined : delimiter,
    IsTruncated: page.truncated,
    Version: page.entries.filter((entry) => entry.version.state !== 'DELETE_MARKER').map((entry) => versionEntry(context, entry.version, entry.isLatest)),
    DeleteMarker: page.entries.filter((entry) => entry.version.state === 'DELETE_MARKER').map((entry) => versionEntry(context, entry.version, entry.isLatest)),
    CommonPrefixes: page.commonPrefixes.map((commonPrefix) => ({ Prefix: commonPrefix })),
  });
}
