// ListObjectsV2 and ListObjects (v1): prefix, delimiter, common prefixes,
// max-keys, continuation token / start-after / marker, encoding-type=url,
// fetch-owner. Paging state is the last key or prefix returned.

import { listKeysMax } from '../../meta/list-objects.js';
import type { ListObjectsResult } from '../../meta/list-objects.js';
import type { RequestContext } from '../context.js';
import { requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { xmlResponse } from '../response.js';
import type { XmlNode } from '../xml.js';

function maxKeysOf(context: RequestContext): number {
  const value = context.target.query.get('max-keys');
  if (value === undefined) return listKeysMax;
  if (!/^\d+$/.test(value)) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: value });
  return Math.min(Number(value), listKeysMax);
}

/** S3's encoding-type=url: percent-encode like a URL, keeping '/' as is. */
function encoder(context: RequestContext): (text: string) => string {
  const encodingType = context.target.query.get('encoding-type');
  if (encodingType === undefined) return (text) => text;
  if (encodingType.toLowerCase() !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  return (text) => encodeURIComponent(text).replace(/%2F/g, '/').replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

interface ListPage {
  readonly prefix: string;
  readonly delimiter: string | undefined;
  readonly maxKeys: number;
  readonly result: ListObjectsResult;
}

async function listPage(context: RequestContext, after: string | undefined): Promise<ListPage> {
  const bucket = await requireBucket(context, 'READ');
  const prefix = context.target.query.get('prefix') ?? '';
  const delimiter = context.target.query.get('delimiter');
  const maxKeys = maxKeysOf(context);
  const result = await context.services.meta.listObjects({
    bucket: bucket.name,
    prefix,
    ...(delimiter === undefined || delimiter === '' ? {} : { delimiter }),
    ...(after === undefined || after === '' ? {} : { after }),
    maxKeys,
  });
  return { prefix, delimiter, maxKeys, result };
}

function contents(context: RequestContext, page: ListPage, encode: (text: string) => string, withOwner: boolean): XmlNode[] {
  return page.result.contents.map((version) => ({
    Key: encode(version.key),
    LastModified: isoDate(version.createdMs),
    ETag: version.etag,
    Size: version.sizeBytes,
    ...(withOwner ? { Owner: ownerOf(context, version.owner) } : {}),
    StorageClass: 'STANDARD',
  }));
}

function ownerOf(context: RequestContext, canonicalId: string): XmlNode {
  return { ID: canonicalId, DisplayName: context.services.users.byId(canonicalId)?.displayName ?? canonicalId };
}

function commonPrefixes(page: ListPage, encode: (text: string) => string): XmlNode[] {
  return page.result.commonPrefixes.map((prefix) => ({ Prefix: encode(prefix) }));
}

export async function listObjectsV2(context: RequestContext): Promise<S3Response> {
  const query = context.target.query;
  const token = query.get('continuation-token');
  let after = query.get('start-after');
  if (token !== undefined && token !== '') {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!decoded.startsWith('t1:')) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    after = decoded.slice(3);
  }
  const page = await listPage(context, after);
  const encode = encoder(context);
  const next = page.result.nextAfter;
  return xmlResponse('ListBucketResult', {
    Name: context.target.bucket,
    Prefix: encode(page.prefix),
    Delimiter: page.delimiter === undefined || page.delimiter === '' ? undefined : encode(page.delimiter),
    MaxKeys: page.maxKeys,
    EncodingType: query.get('encoding-type'),
    KeyCount: page.result.contents.length + page.result.commonPrefixes.length,
    IsTruncated: page.result.isTruncated,
    ContinuationToken: token,
    NextContinuationToken: next === undefined ? undefined : Buffer.from(`t1:${next}`).toString('base64url'),
    StartAfter: query.has('start-after') ? encode(query.get('start-after')!) : undefined,
    Contents: contents(context, page, encode, query.get('fetch-owner') === 'true'),
    CommonPrefixes: commonPrefixes(page, encode),
  });
}

export async function listObjectsV1(context: RequestContext): Promise<S3Response> {
  const marker = context.target.query.get('marker');
  const page = await listPage(context, marker);
  const encode = encoder(context);
  const next = page.result.nextAfter;
  return xmlResponse('ListBucketResult', {
    Name: context.target.bucket,
    Prefix: page.prefix,
    Marker: encode(marker ?? ''),
    NextMarker: page.delimiter !== undefined && page.delimiter !== '' && next !== undefined ? encode(next) : undefined,
    MaxKeys: page.maxKeys,
    Delimiter: page.delimiter === undefined || page.delimiter === '' ? undefined : encode(page.delimiter),
    EncodingType: context.target.query.get('encoding-type'),
    IsTruncated: page.result.isTruncated,
    Contents: contents(context, page, encode, true),
    CommonPrefixes: commonPrefixes(page, encode),
  });
}
