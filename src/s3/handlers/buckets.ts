// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, GetBucketVersioning (always unversioned until #3).

import { newBucketId } from '../../gateway/ids.js';
import { assert } from '../../stdx/assert.js';
import type { RequestContext } from '../context.js';
import { bucketName, requireAccount, requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { isValidBucketName } from '../request-target.js';
import { readBodyBytes } from '../request-body.js';
import { emptyResponse, xmlResponse } from '../response.js';
import { escapeXml, parseXml } from '../xml.js';
import { aclFromHeaders } from '../access.js';

const createBucketBodyBytesMax = 64 * 1024;

export async function listBuckets(context: RequestContext): Promise<S3Response> {
  requireAccount(context);
  const query = context.target.query;
  const prefix = query.get('prefix') ?? '';
  const token = query.get('continuation-token');
  const after = token === undefined || token === '' ? undefined : Buffer.from(token, 'base64url').toString('utf8');
  const maxText = query.get('max-buckets');
  if (maxText !== undefined && (!/^\d+$/.test(maxText) || Number(maxText) < 1 || Number(maxText) > 10000)) {
    throw new S3Error('InvalidArgument', 'max-buckets must be an integer from 1 to 10000', { ArgumentName: 'max-buckets' });
  }
  const maxBuckets = maxText === undefined ? Number.POSITIVE_INFINITY : Number(maxText);
  const buckets = (await context.services.meta.listBuckets()).filter(
    (bucket) => bucket.owner === context.user.canonicalId && bucket.name.startsWith(prefix) && (after === undefined || bucket.name > after),
  );
  const page = buckets.slice(0, maxBuckets);
  const truncated = buckets.length > page.length;
  return xmlResponse('ListAllMyBucketsResult', {
    Owner: { ID: context.user.canonicalId, DisplayName: context.user.displayName },
    Buckets: { Bucket: page.map((bucket) => ({ Name: bucket.name, CreationDate: isoDate(bucket.createdMs) })) },
    ContinuationToken: truncated ? Buffer.from(page.at(-1)!.name).toString('base64url') : undefined,
    Prefix: query.has('prefix') ? prefix : undefined,
  });
}

export async function createBucket(context: RequestContext): Promise<S3Response> {
  requireAccount(context);
  const bucket = bucketName(context);
  if (!isValidBucketName(bucket)) throw new S3Error('InvalidBucketName', undefined, { BucketName: bucket });
  const body = await readBodyBytes(context, createBucketBodyBytesMax);
  if (body.length > 0) {
    const parsed = parseXml(body);
    const configuration = parsed.CreateBucketConfiguration;
    if (configuration === undefined) throw new S3Error('MalformedXML');
    const constraint = typeof configuration === 'object' && configuration !== null ? (configuration as Record<string, unknown>).LocationConstraint : undefined;
    if (typeof constraint === 'string' && constraint !== '' && constraint !== context.services.region) {
      throw new S3Error('InvalidLocationConstraint', `The ${constraint} location constraint is not valid for this endpoint (${context.services.region}).`);
    }
  }
  const acl = aclFromHeaders(context.request.headers, context.user.canonicalId);
  const result = await context.services.meta.submit({
    type: 'create_bucket',
    bucket,
    bucketId: newBucketId(context.services.env.random),
    owner: context.user.canonicalId,
    region: context.services.region,
    ...(acl === undefined ? {} : { acl }),
  });
  if (result.status === 'bucket_exists') {
    // AWS's us-east-1 answers 200 when you re-create your own bucket; other regions 409.
    if (result.owner === context.user.canonicalId && context.services.region === 'us-east-1') {
      return emptyResponse(200, { location: `/${bucket}` });
    }
    const code = result.owner === context.user.canonicalId ? 'BucketAlreadyOwnedByYou' : 'BucketAlreadyExists';
    throw new S3Error(code, undefined, { BucketName: bucket });
  }
  assert(result.status === 'bucket_created', `create_bucket answered ${result.status}`);
  return emptyResponse(200, { location: `/${bucket}` });
}

export async function headBucket(context: RequestContext): Promise<S3Response> {
  await requireBucket(context, 'READ');
  return emptyResponse(200, { 'x-amz-bucket-region': context.services.region });
}

export async function deleteBucket(context: RequestContext): Promise<S3Response> {
  const bucket = bucketName(context);
  await requireBucket(context, 'owner', bucket);
  const result = await context.services.meta.submit({ type: 'delete_bucket', bucket });
  if (result.status === 'bucket_not_empty') throw new S3Error('BucketNotEmpty', undefined, { BucketName: bucket });
  if (result.status === 'no_such_bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  assert(result.status === 'ok', `delete_bucket answered ${result.status}`);
  return emptyResponse(204);
}

export async function getBucketLocation(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  // AWS answers an empty LocationConstraint for us-east-1.
  return locationResponse(bucket.region === 'us-east-1' ? '' : bucket.region);
}

function locationResponse(region: string): S3Response {
  const body = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${escapeXml(region)}</LocationConstraint>`,
  );
  return { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(body.length) }, body };
}
