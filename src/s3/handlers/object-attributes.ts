// GetObjectAttributes: ETag, Checksum, ObjectParts (paged), StorageClass and
// ObjectSize of an object, as selected by x-amz-object-attributes, without
// reading its data.

import type { PartRecord, VersionRecord } from '../../meta/records.js';
import { checksumAlgorithms } from '../checksums.js';
import type { RequestContext } from '../context.js';
import { header, objectKeyOf, requireBucket, requireObjectPermission } from '../context.js';
import { S3Error } from '../errors.js';
import { httpDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { xmlResponse } from '../response.js';
import { isAllowed } from '../access.js';
import { requestedVersionId, versionIdHeader } from './objects.js';
import type { XmlNode } from '../xml.js';

const attributeNames = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
type Attribute = (typeof attributeNames)[number];

function requestedAttributes(context: RequestContext): Set<Attribute> {
  const text = header(context, 'x-amz-object-attributes') ?? '';
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new S3Error('InvalidArgument', 'x-amz-object-attributes must name at least one attribute', { ArgumentName: 'x-amz-object-attributes' });
  const unknown = names.find((name) => !(attributeNames as readonly string[]).includes(name));
  if (unknown !== undefined) throw new S3Error('InvalidArgument', `Invalid attribute name specified: ${unknown}`, { ArgumentName: 'x-amz-object-attributes' });
  return new Set(names as Attribute[]);
}

/** Checksum fields by algorithm, plus ChecksumType when the values carry one. */
function checksumNode(checksums: Readonly<Record<string, string>> | undefined, withType: boolean): XmlNode | undefined {
  if (checksums === undefined) return undefined;
  const node: Record<string, string> = {};
  for (const algorithm of checksumAlgorithms) {
    const value = checksums[algorithm];
    if (value === undefined) continue;
    node[`Checksum${algorithm}`] = value;
    if (withType) node.ChecksumType = /-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT';
  }
  return Object.keys(node).length === 0 ? undefined : node;
}

function integerHeader(context: RequestContext, name: string, fallback: number): number {
  const text = header(context, name);
  if (text === undefined) return fallback;
  if (!/^\d{1,6}$/.test(text)) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer`, { ArgumentName: name });
  return Number(text);
}

function objectParts(context: RequestContext, parts: readonly PartRecord[]): XmlNode {
  const marker = integerHeader(context, 'x-amz-part-number-marker', 0);
  const maxParts = Math.min(integerHeader(context, 'x-amz-max-parts', 1000), 1000);
  const after = parts.filter((part) => part.partNumber > marker);
  const page = after.slice(0, maxParts);
  return {
    // The API calls it TotalPartsCount; on the wire the element is PartsCount.
    PartsCount: parts.length,
    PartNumberMarker: marker,
    NextPartNumberMarker: page.at(-1)?.partNumber ?? marker,
    MaxParts: maxParts,
    IsTruncated: after.length > page.length,
    Part: page.map((part) => ({ PartNumber: part.partNumber, Size: part.sizeBytes, ...checksumNode(part.checksums, false) })),
  };
}

export async function getObjectAttributes(context: RequestContext): Promise<S3Response> {
  const attributes = requestedAttributes(context);
  const bucket = await requireBucket(context, 'exists');
  const key = objectKeyOf(context);
  const versionId = requestedVersionId(context);
  const meta = context.services.meta;
  const version: VersionRecord | undefined =
    versionId === undefined ? await meta.getObject(bucket.name, key) : await meta.getVersion(bucket.name, key, versionId);
  if (version === undefined) {
    if (!isAllowed(context.principal, bucket.owner, bucket.acl, 'READ')) throw new S3Error('AccessDenied');
    throw versionId === undefined ? new S3Error('NoSuchKey', undefined, { Key: key }) : new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId });
  }
  if (version.state === 'DELETE_MARKER') throw new S3Error('MethodNotAllowed', undefined, {}, { headers: { 'x-amz-delete-marker': 'true', ...versionIdHeader(version) } });
  requireObjectPermission(context, version, 'READ');
  const isMultipart = version.etag.includes('-');
  const response = xmlResponse('GetObjectAttributesResponse', {
    ETag: attributes.has('ETag') ? version.etag.replace(/^"(.*)"$/, '$1') : undefined,
    Checksum: attributes.has('Checksum') ? checksumNode(version.checksums, true) : undefined,
    ObjectParts: attributes.has('ObjectParts') && isMultipart ? objectParts(context, version.parts) : undefined,
    StorageClass: attributes.has('StorageClass') ? 'STANDARD' : undefined,
    ObjectSize: attributes.has('ObjectSize') ? version.sizeBytes : undefined,
  });
  return { ...response, headers: { ...response.headers, 'last-modified': httpDate(version.createdMs), ...versionIdHeader(version) } };
}
