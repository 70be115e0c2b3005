// Multipart upload: CreateMultipartUpload, UploadPart, UploadPartCopy,
// CompleteMultipartUpload, AbortMultipartUpload, ListParts and
// ListMultipartUploads. Each part is its own erasure-coded unit (or inline when
// small); Complete commits a version that references the parts, copying nothing.

import { newVersionId } from '../../gateway/ids.js';
import { uploadPartsMax } from '../../meta/multipart.js';
import type { MetaResult } from '../../meta/ops.js';
import { recordFormatVersion } from '../../meta/records.js';
import type { UploadRecord } from '../../meta/records.js';
import { assert } from '../../stdx/assert.js';
import type { RequestContext } from '../context.js';
import { header, objectKeyOf, requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../http-dates.js';
import type { S3Response } from '../http.js';
import { metadataFromHeaders } from '../object-headers.js';
import { prepareBody, readBodyBytes } from '../request-body.js';
import { emptyResponse, xmlResponse } from '../response.js';
import { parseXml } from '../xml.js';
import { aclFromHeaders } from '../access.js';
import { tagsFromHeader } from '../tags.js';
import { checksumHeaderName, createChecksum, parseChecksumAlgorithm } from '../checksums.js';
import type { ChecksumAlgorithm } from '../checksums.js';
import { combineCrc, crc32Spec, crc32cSpec, crc64NvmeSpec } from '../../stdx/crc-combine.js';
import type { ReflectedCrc } from '../../stdx/crc-combine.js';
import type { XmlNode } from '../xml.js';
import { contentMd5, versionHeaders, versionIdHeader, writeConditions } from './objects.js';
import { loadCopySource } from './copy-object.js';

const completeBodyBytesMax = 4 * 1024 * 1024;

const crcSpecs: Partial<Record<ChecksumAlgorithm, ReflectedCrc>> = { CRC32: crc32Spec, CRC32C: crc32cSpec, CRC64NVME: crc64NvmeSpec };

/** x-amz-checksum-type on CreateMultipartUpload: FULL_OBJECT needs a CRC; CRC64NVME is always FULL_OBJECT. */
function checksumTypeOf(context: RequestContext, algorithmName: string | undefined): 'COMPOSITE' | 'FULL_OBJECT' | undefined {
  if (algorithmName === undefined) return undefined;
  const algorithm = parseChecksumAlgorithm(algorithmName);
  if (algorithm === undefined) throw new S3Error('InvalidRequest', `Unknown checksum algorithm ${algorithmName}`);
  const requested = header(context, 'x-amz-checksum-type')?.toUpperCase();
  if (requested !== undefined && requested !== 'COMPOSITE' && requested !== 'FULL_OBJECT') {
    throw new S3Error('InvalidRequest', `Unknown checksum type ${requested}`);
  }
  const type = requested ?? (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type === 'FULL_OBJECT' && crcSpecs[algorithm] === undefined) {
    throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type cannot be used with the ${algorithm} algorithm.`);
  }
  if (type === 'COMPOSITE' && algorithm === 'CRC64NVME') {
    throw new S3Error('InvalidRequest', 'The COMPOSITE checksum type cannot be used with the CRC64NVME algorithm.');
  }
  return type;
}

function crcFromBase64(value: string): bigint {
  return BigInt(`0x${Buffer.from(value, 'base64').toString('hex') || '0'}`);
}

function crcToBase64(crc: bigint, widthBits: number): string {
  return Buffer.from(crc.toString(16).padStart(widthBits / 4, '0'), 'hex').toString('base64');
}

function partNumberOf(context: RequestContext): number {
  const text = context.target.query.get('partNumber') ?? '';
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > uploadPartsMax) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${uploadPartsMax}, inclusive`, {
      ArgumentName: 'partNumber',
      ArgumentValue: text,
    });
  }
  return Number(text);
}

async function requireUpload(context: RequestContext, permission: 'READ' | 'WRITE'): Promise<UploadRecord> {
  const bucket = await requireBucket(context, permission);
  const key = objectKeyOf(context);
  const uploadId = context.target.query.get('uploadId') ?? '';
  const upload = await context.services.meta.getUpload(bucket.name, key, uploadId);
  if (upload === undefined) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
  return upload;
}

function owner(context: RequestContext, canonicalId: string): XmlNode {
  return { ID: canonicalId, DisplayName: context.services.users.byId(canonicalId)?.displayName ?? canonicalId };
}

export async function createMultipartUpload(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE');
  const key = objectKeyOf(context);
  const metadata = metadataFromHeaders(context.request.headers);
  const checksumAlgorithm = header(context, 'x-amz-checksum-algorithm');
  const checksumType = checksumTypeOf(context, checksumAlgorithm);
  const acl = aclFromHeaders(context.request.headers, bucket.owner);
  const tags = tagsFromHeader(header(context, 'x-amz-tagging'));
  const upload: UploadRecord = {
    ...(acl === undefined ? {} : { acl }),
    ...(tags === undefined ? {} : { tags }),
    format: recordFormatVersion,
    bucket: bucket.name,
    key,
    uploadId: newVersionId(context.services.env.clock, context.services.env.random),
    owner: context.user.canonicalId,
    ...metadata,
    ...(checksumAlgorithm === undefined ? {} : { checksumAlgorithm: checksumAlgorithm.toUpperCase() }),
    ...(checksumType === undefined ? {} : { checksumType }),
    createdMs: 0,
  };
  const result = await context.services.meta.submit({ type: 'create_upload', upload });
  if (result.status === 'no_such_bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name });
  assert(result.status === 'upload_created', `create_upload answered ${result.status}`);
  const response = xmlResponse('InitiateMultipartUploadResult', { Bucket: bucket.name, Key: key, UploadId: upload.uploadId });
  if (checksumAlgorithm === undefined) return response;
  return { ...response, headers: { ...response.headers, 'x-amz-checksum-algorithm': checksumAlgorithm.toUpperCase(), 'x-amz-checksum-type': checksumType ?? 'COMPOSITE' } };
}

export async function uploadPart(context: RequestContext): Promise<S3Response> {
  const partNumber = partNumberOf(context);
  const upload = await requireUpload(context, 'WRITE');
  const copySource = header(context, 'x-amz-copy-source');
  if (copySource !== undefined) return uploadPartCopy(context, upload, partNumber, copySource);
  if (header(context, 'content-length') === undefined && !context.auth.payload.kind.startsWith('streaming')) {
    throw new S3Error('MissingContentLength');
  }
  const md5 = contentMd5(context);
  const body = prepareBody(context, context.services.objectBytesMax);
  const outcome = await context.services.gateway.uploadPart({
    bucket: upload.bucket,
    key: upload.key,
    uploadId: upload.uploadId,
    partNumber,
    owner: context.user.canonicalId,
    body: body.data,
    ...(md5 === undefined ? {} : { contentMd5: md5 }),
    checksums: () => body.checksums(),
  });
  switch (outcome.status) {
    case 'ok':
      return emptyResponse(200, versionHeaders({ etag: outcome.part.etag, checksums: outcome.part.checksums ?? {} }));
    case 'no_such_upload':
      throw new S3Error('NoSuchUpload', undefined, { UploadId: upload.uploadId });
    case 'no_such_bucket':
      throw new S3Error('NoSuchBucket');
    case 'bad_digest':
      throw new S3Error('BadDigest');
    case 'too_large':
      throw new S3Error('EntityTooLarge');
  }
}

function parseCopyRange(value: string | undefined, sizeBytes: number): { first: number; last: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d+)$/.exec(value.trim());
  if (match === null) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last', { ArgumentName: 'x-amz-copy-source-range' });
  const first = Number(match[1]);
  const last = Number(match[2]);
  if (last < first || last >= sizeBytes) {
    throw new S3Error('InvalidRange', undefined, { ActualObjectSize: String(sizeBytes) });
  }
  return { first, last };
}

async function uploadPartCopy(context: RequestContext, upload: UploadRecord, partNumber: number, copySource: string): Promise<S3Response> {
  const source = await loadCopySource(context, copySource);
  const range = parseCopyRange(header(context, 'x-amz-copy-source-range'), source.sizeBytes);
  const outcome = await context.services.gateway.uploadPart({
    bucket: upload.bucket,
    key: upload.key,
    uploadId: upload.uploadId,
    partNumber,
    owner: context.user.canonicalId,
    body: context.services.gateway.readObject(source, range),
  });
  if (outcome.status === 'no_such_upload') throw new S3Error('NoSuchUpload', undefined, { UploadId: upload.uploadId });
  assert(outcome.status === 'ok', `upload part copy answered ${outcome.status}`);
  return xmlResponse('CopyPartResult', { LastModified: isoDate(context.nowMs), ETag: outcome.part.etag });
}

function parsePartList(body: Uint8Array): { partNumber: number; etag: string }[] {
  const document = parseXml(body).CompleteMultipartUpload;
  if (typeof document !== 'object' || document === null) throw new S3Error('MalformedXML');
  const parts = (document as { Part?: unknown }).Part;
  if (!Array.isArray(parts) || parts.length === 0) throw new S3Error('MalformedXML', 'The XML you provided did not list any parts.');
  return parts.map((part: unknown) => {
    const fields = (typeof part === 'object' && part !== null ? part : {}) as { PartNumber?: unknown; ETag?: unknown };
    const partNumber = Number(fields.PartNumber);
    if (!Number.isInteger(partNumber) || typeof fields.ETag !== 'string') throw new S3Error('MalformedXML');
    return { partNumber, etag: fields.ETag };
  });
}

/** A stored composite checksum as response headers and XML fields (with its type). */
function checksumFields(checksums: Readonly<Record<string, string>>): { headers: Record<string, string>; xml: XmlNode } {
  const headers: Record<string, string> = {};
  const xml: Record<string, string> = {};
  for (const [name, value] of Object.entries(checksums)) {
    const algorithm = parseChecksumAlgorithm(name);
    if (algorithm === undefined) continue;
    headers[checksumHeaderName(algorithm)] = value;
    const type = /-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT';
    headers['x-amz-checksum-type'] = type;
    xml[`Checksum${algorithm}`] = value;
    xml.ChecksumType = type;
  }
  return { headers, xml };
}

function completeFailure(result: MetaResult, uploadId: string): S3Error {
  switch (result.status) {
    case 'no_such_upload':
      return new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    case 'invalid_part':
      return new S3Error('InvalidPart', undefined, { PartNumber: String(result.partNumber) });
    case 'invalid_part_order':
      return new S3Error('InvalidPartOrder');
    case 'entity_too_small':
      return new S3Error('EntityTooSmall', undefined, { PartNumber: String(result.partNumber) });
    case 'precondition_failed':
      return new S3Error('PreconditionFailed');
    case 'no_such_key':
      return new S3Error('NoSuchKey');
    default:
      return new S3Error('InternalError', `complete_upload answered ${result.status}`);
  }
}

/**
 * The composite checksum of a multipart object (S3's COMPOSITE type): the
 * checksum of the concatenated binary part checksums, then "-N". Undefined
 * when the upload named no algorithm or a part lacks its checksum.
 */
async function compositeChecksum(
  context: RequestContext,
  upload: UploadRecord,
  listed: readonly { partNumber: number }[],
): Promise<{ algorithm: ChecksumAlgorithm; value: string } | undefined> {
  const algorithm = upload.checksumAlgorithm === undefined ? undefined : parseChecksumAlgorithm(upload.checksumAlgorithm);
  if (algorithm === undefined) return undefined;
  const byNumber = new Map((await context.services.meta.listParts(upload.bucket, upload.uploadId)).map((record) => [record.part.partNumber, record.part]));
  const numbers = [...new Set(listed.map((part) => part.partNumber))];
  const spec = crcSpecs[algorithm];
  if (upload.checksumType === 'FULL_OBJECT' && spec !== undefined) {
    let whole: bigint | undefined;
    for (const partNumber of numbers) {
      const part = byNumber.get(partNumber);
      const value = part?.checksums?.[algorithm];
      if (part === undefined || value === undefined) return undefined;
      whole = whole === undefined ? crcFromBase64(value) : combineCrc(spec, whole, crcFromBase64(value), part.sizeBytes);
    }
    return whole === undefined ? undefined : { algorithm, value: crcToBase64(whole, spec.widthBits) };
  }
  const accumulator = createChecksum(algorithm);
  for (const partNumber of numbers) {
    const value = byNumber.get(partNumber)?.checksums?.[algorithm];
    if (value === undefined) return undefined;
    accumulator.update(Buffer.from(value, 'base64'));
  }
  return { algorithm, value: `${accumulator.digestBase64()}-${numbers.length}` };
}

export async function completeMultipartUpload(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE');
  const key = objectKeyOf(context);
  const uploadId = context.target.query.get('uploadId') ?? '';
  // A missing upload may be one that this very part list already completed:
  // the state machine answers that retry like the first Complete.
  const upload = await context.services.meta.getUpload(bucket.name, key, uploadId);
  const parts = parsePartList(await readBodyBytes(context, completeBodyBytesMax, { checksumHeaders: false }));
  const composite = upload === undefined ? undefined : await compositeChecksum(context, upload, parts);
  if (composite !== undefined) {
    const sent = header(context, checksumHeaderName(composite.algorithm));
    if (sent !== undefined && sent !== composite.value && `${sent}-${String(new Set(parts.map((part) => part.partNumber)).size)}` !== composite.value) {
      throw new S3Error('BadDigest', `The ${composite.algorithm} you specified did not match the calculated checksum.`);
    }
  }
  const conditions = writeConditions(context);
  const result = await context.services.meta.submit({
    type: 'complete_upload',
    bucket: bucket.name,
    key,
    uploadId,
    versionId: newVersionId(context.services.env.clock, context.services.env.random),
    parts,
    partBytesMin: context.services.partBytesMin,
    ...(conditions === undefined ? {} : { conditions }),
    ...(composite === undefined ? {} : { checksums: { [composite.algorithm]: composite.value } }),
  });
  if (result.status !== 'version_committed') throw completeFailure(result, uploadId);
  context.services.gateway.notifyGarbage();
  const checksums = checksumFields(result.version.checksums);
  const response = xmlResponse('CompleteMultipartUploadResult', {
    Location: `/${bucket.name}/${key}`,
    Bucket: bucket.name,
    Key: key,
    ETag: result.version.etag,
    ...checksums.xml,
  });
  return { ...response, headers: { ...response.headers, ...checksums.headers, ...versionIdHeader(result.version, { forWrite: true }) } };
}

export async function abortMultipartUpload(context: RequestContext): Promise<S3Response> {
  const upload = await requireUpload(context, 'WRITE');
  const result = await context.services.meta.submit({ type: 'abort_upload', bucket: upload.bucket, key: upload.key, uploadId: upload.uploadId });
  if (result.status === 'no_such_upload') throw new S3Error('NoSuchUpload', undefined, { UploadId: upload.uploadId });
  context.services.gateway.notifyGarbage();
  return emptyResponse(204);
}

function boundedInteger(context: RequestContext, name: string, fallback: number, max: number): number {
  const text = context.target.query.get(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer`, { ArgumentName: name, ArgumentValue: text });
  return Math.min(Number(text), max);
}

export async function listParts(context: RequestContext): Promise<S3Response> {
  const upload = await requireUpload(context, 'READ');
  const marker = boundedInteger(context, 'part-number-marker', 0, uploadPartsMax);
  const maxParts = boundedInteger(context, 'max-parts', 1000, 1000);
  const all = (await context.services.meta.listParts(upload.bucket, upload.uploadId)).filter((record) => record.part.partNumber > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  return xmlResponse('ListPartsResult', {
    Bucket: upload.bucket,
    Key: upload.key,
    UploadId: upload.uploadId,
    Initiator: owner(context, upload.owner),
    Owner: owner(context, upload.owner),
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: page.at(-1)?.part.partNumber ?? marker,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: page.map((record) => ({
      PartNumber: record.part.partNumber,
      LastModified: isoDate(record.createdMs),
      ETag: record.part.etag,
      Size: record.part.sizeBytes,
    })),
  });
}

export async function listMultipartUploads(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'READ');
  const query = context.target.query;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  const uploadIdMarker = query.get('upload-id-marker');
  const maxUploads = boundedInteger(context, 'max-uploads', 1000, 1000);
  const uploads: UploadRecord[] = [];
  const commonPrefixes: string[] = [];
  let after: { key: string; uploadId?: string } | undefined =
    keyMarker === '' ? undefined : { key: keyMarker, ...(uploadIdMarker === undefined || uploadIdMarker === '' ? {} : { uploadId: uploadIdMarker }) };
  let afterPrefix: string | undefined;
  let truncated = false;
  scan: for (;;) {
    const position = afterPrefix !== undefined ? { afterPrefix } : after === undefined ? {} : { after };
    const batch = await context.services.meta.listUploads(bucket.name, { prefix, ...position, limit: 1000 });
    if (batch.length === 0) break;
    afterPrefix = undefined;
    for (const upload of batch) {
      after = { key: upload.key, uploadId: upload.uploadId };
      const at = delimiter === '' ? -1 : upload.key.indexOf(delimiter, prefix.length);
      const commonPrefix = at < 0 ? undefined : upload.key.slice(0, at + delimiter.length);
      if (commonPrefix !== undefined) {
        // A common prefix is listed once, never again on a later page (key-marker
        // at or past it), and the scan jumps over every upload under it.
        const alreadyListed = keyMarker !== '' && Buffer.compare(Buffer.from(commonPrefix), Buffer.from(keyMarker)) <= 0;
        if (!alreadyListed) {
          if (uploads.length + commonPrefixes.length >= maxUploads) {
            truncated = true;
            break scan;
          }
          commonPrefixes.push(commonPrefix);
        }
        afterPrefix = commonPrefix;
        continue scan;
      }
      if (uploads.length + commonPrefixes.length >= maxUploads) {
        truncated = true;
        break scan;
      }
      uploads.push(upload);
    }
  }
  const last = uploads.at(-1);
  return xmlResponse('ListMultipartUploadsResult', {
    Bucket: bucket.name,
    KeyMarker: keyMarker,
    UploadIdMarker: uploadIdMarker ?? '',
    NextKeyMarker: truncated ? (last?.key ?? commonPrefixes.at(-1)) : undefined,
    NextUploadIdMarker: truncated ? last?.uploadId : undefined,
    Prefix: prefix,
    Delimiter: delimiter === '' ? undefined : delimiter,
    MaxUploads: maxUploads,
    IsTruncated: truncated,
    Upload: uploads.map((upload) => ({
      Key: upload.key,
      UploadId: upload.uploadId,
      Initiator: owner(context, upload.owner),
      Owner: owner(context, upload.owner),
      StorageClass: 'STANDARD',
      Initiated: isoDate(upload.createdMs),
    })),
    CommonPrefixes: commonPrefixes.map((commonPrefix) => ({ Prefix: commonPrefix })),
  });
}
