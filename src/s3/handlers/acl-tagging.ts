// ACLs and tags of buckets and objects: Get/PutBucketAcl, Get/PutObjectAcl,
// Get/Put/DeleteBucketTagging, Get/Put/DeleteObjectTagging. Each change is one
// metadata op that edits the record in place (no new object version).

import type { MetaResult } from '../../meta/ops.js';
import type { BucketRecord, VersionRecord } from '../../meta/records.js';
import { aclFromHeaders, aclFromXml, isAllowed, renderAcl } from '../access.js';
import type { RequestContext } from '../context.js';
import { objectKeyOf, requireBucket, requireObjectPermission } from '../context.js';
import { S3Error } from '../errors.js';
import type { S3Response } from '../http.js';
import { readBodyBytes } from '../request-body.js';
import { emptyResponse, xmlResponse } from '../response.js';
import { bucketTagsMax, objectTagsMax, tagSetXml, tagsFromXml } from '../tags.js';
import { requestedVersionId, versionIdHeader } from './objects.js';

const bodyBytesMax = 64 * 1024;

function displayNameOf(context: RequestContext): (id: string) => string {
  return (id) => context.services.users.byId(id)?.displayName ?? id;
}

function aclResponse(context: RequestContext, owner: string, acl: VersionRecord['acl']): S3Response {
  const body = renderAcl({ id: owner, displayName: displayNameOf(context)(owner) }, acl, displayNameOf(context));
  return { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(body.length) }, body };
}

async function requestedAcl(context: RequestContext, bucketOwner: string): Promise<NonNullable<VersionRecord['acl']>> {
  const fromHeaders = aclFromHeaders(context.request.headers, bucketOwner);
  const body = await readBodyBytes(context, bodyBytesMax);
  if (fromHeaders !== undefined) {
    if (body.length > 0) throw new S3Error('InvalidRequest', 'Specify an ACL either in headers or in the body, not both');
    return fromHeaders;
  }
  if (body.length === 0) throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header: x-amz-acl');
  return aclFromXml(body);
}

function checkUpdate(result: MetaResult, key: string, versionId: string | undefined): VersionRecord {
  switch (result.status) {
    case 'version_updated':
      return result.version;
    case 'no_such_key':
      throw new S3Error('NoSuchKey', undefined, { Key: key });
    case 'no_such_version':
      throw new S3Error(versionId === undefined ? 'NoSuchKey' : 'NoSuchVersion', undefined, { Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) });
    case 'no_such_bucket':
      throw new S3Error('NoSuchBucket');
    default:
      throw new S3Error('InternalError', `update_version answered ${result.status}`);
  }
}

async function loadVersion(context: RequestContext, bucketRecord: BucketRecord, key: string, versionId: string | undefined): Promise<VersionRecord> {
  const meta = context.services.meta;
  const bucket = bucketRecord.name;
  const version = versionId === undefined ? await meta.getObject(bucket, key) : await meta.getVersion(bucket, key, versionId);
  if (version === undefined || version.state === 'DELETE_MARKER') {
    // Without list rights a missing key looks like a forbidden one: no probing key names.
    if (!isAllowed(context.principal, bucketRecord.owner, bucketRecord.acl, 'READ')) throw new S3Error('AccessDenied');
    throw versionId === undefined ? new S3Error('NoSuchKey', undefined, { Key: key }) : new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId });
  }
  return version;
}

export async function getBucketAcl(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'READ_ACP');
  return aclResponse(context, bucket.owner, bucket.acl);
}

export async function putBucketAcl(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE_ACP');
  const acl = await requestedAcl(context, bucket.owner);
  await context.services.meta.submit({ type: 'update_bucket', bucket: bucket.name, acl });
  return emptyResponse(200);
}

export async function getObjectAcl(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const version = await loadVersion(context, bucket, key, versionId);
  requireObjectPermission(context, version, 'READ_ACP');
  const response = aclResponse(context, version.owner, version.acl);
  return { ...response, headers: { ...response.headers, ...versionIdHeader(version) } };
}

export async function putObjectAcl(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const version = await loadVersion(context, bucket, key, versionId);
  requireObjectPermission(context, version, 'WRITE_ACP');
  const acl = await requestedAcl(context, bucket.owner);
  const result = await context.services.meta.submit({ type: 'update_version', bucket: bucket.name, key, ...(versionId === undefined ? {} : { s3VersionId: versionId }), acl });
  return emptyResponse(200, versionIdHeader(checkUpdate(result, key, versionId)));
}

export async function getBucketTagging(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  if (bucket.tags === undefined) throw new S3Error('NoSuchTagSet', undefined, { BucketName: bucket.name });
  return xmlResponse('Tagging', tagSetXml(bucket.tags));
}

export async function putBucketTagging(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  const tags = tagsFromXml(await readBodyBytes(context, bodyBytesMax), bucketTagsMax);
  await context.services.meta.submit({ type: 'update_bucket', bucket: bucket.name, tags });
  return emptyResponse(204);
}

export async function deleteBucketTagging(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'owner');
  await context.services.meta.submit({ type: 'update_bucket', bucket: bucket.name, tags: null });
  return emptyResponse(204);
}

export async function getObjectTagging(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const version = await loadVersion(context, bucket, key, versionId);
  requireObjectPermission(context, version, 'READ');
  const response = xmlResponse('Tagging', tagSetXml(version.tags));
  return { ...response, headers: { ...response.headers, ...versionIdHeader(version) } };
}

async function setObjectTags(context: RequestContext, tags: VersionRecord['tags'] | null, status: number): Promise<S3Response> {
  // Tags belong to the object: changing them takes the object's owner (or a
  // WRITE_ACP / FULL_CONTROL grant on it), not write access to the bucket.
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  requireObjectPermission(context, await loadVersion(context, bucket, key, versionId), 'WRITE_ACP');
  const result = await context.services.meta.submit({
    type: 'update_version',
    bucket: bucket.name,
    key,
    ...(versionId === undefined ? {} : { s3VersionId: versionId }),
    tags: tags ?? null,
  });
  return emptyResponse(status, versionIdHeader(checkUpdate(result, key, versionId)));
}

export async function putObjectTagging(context: RequestContext): Promise<S3Response> {
  return setObjectTags(context, tagsFromXml(await readBodyBytes(context, bodyBytesMax), objectTagsMax), 200);
}

export async function deleteObjectTagging(context: RequestContext): Promise<S3Response> {
  return setObjectTags(context, null, 204);
}
