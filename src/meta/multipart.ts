// Multipart uploads in the metadata state machine: create, record parts,
// complete (validate the part list, commit a version that references the parts'
// fragments without copying them) and abort (parts handed to GC). Synchronous
// and deterministic like the rest of the state machine.

import { createHash } from 'node:crypto';
import type { KvReader, KvTransaction } from '../io/kv-store.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { preparingKey, uploadKey, uploadPartKey, uploadPartRange, versionIndexKey } from './keys.js';
import type { MetaOp, MetaResult } from './ops.js';
import { recordFormatVersion } from './records.js';
import type { PartRecord, UploadPartRecord, UploadRecord, VersionRecord } from './records.js';
import type { MetaStateMachine } from './state-machine.js';
import { checkConditions, readBucket, readObject, readPreparing } from './state-machine.js';

export const uploadPartsMax = 10000;

export function readUpload(reader: KvReader, bucket: string, key: string, uploadId: string): UploadRecord | undefined {
  const bytes = reader.get(uploadKey(bucket, key, uploadId));
  return bytes === undefined ? undefined : (decodeRecord(bytes) as UploadRecord);
}

export function readUploadParts(reader: KvReader, uploadId: string): UploadPartRecord[] {
  return [...reader.scan(uploadPartRange(uploadId))].map((entry) => decodeRecord(entry.value) as UploadPartRecord);
}

export function createUpload(transaction: KvTransaction, upload: UploadRecord, timestampMs: number): MetaResult {
  if (readBucket(transaction, upload.bucket) === undefined) return { status: 'no_such_bucket' };
  assert(readUpload(transaction, upload.bucket, upload.key, upload.uploadId) === undefined, `upload ${upload.uploadId} created twice`);
  const stamped: UploadRecord = { ...upload, createdMs: timestampMs };
  transaction.put(uploadKey(upload.bucket, upload.key, upload.uploadId), encodeRecord(stamped));
  return { status: 'upload_created', upload: stamped };
}

/** Removes a part that stops being part of the upload: its fragments become garbage. */
function dropPart(machine: MetaStateMachine, transaction: KvTransaction, part: PartRecord, timestampMs: number): void {
  if (part.fragmentOwnerId === undefined) return;
  transaction.delete(versionIndexKey(part.fragmentOwnerId));
  machine.queueGarbageParts(transaction, part.fragmentOwnerId, [part], timestampMs);
}

export function commitPart(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  op: Extract<MetaOp, { type: 'commit_part' }>,
  timestampMs: number,
): MetaResult {
  const preparing = op.preparedId === undefined ? undefined : readPreparing(transaction, op.preparedId);
  if (op.preparedId !== undefined) {
    if (preparing === undefined) return { status: 'no_such_preparing_version' };
    assert(op.part.fragmentOwnerId === op.preparedId, 'a striped part is owned by its prepared id');
    transaction.delete(preparingKey(op.preparedId));
  }
  if (readUpload(transaction, op.bucket, op.key, op.uploadId) === undefined) {
    // Aborted (or completed) while this part was being written.
    if (preparing !== undefined) machine.queueGarbage(transaction, preparing, timestampMs);
    return { status: 'no_such_upload' };
  }
  const partKey = uploadPartKey(op.uploadId, op.part.partNumber);
  const previous = transaction.get(partKey);
  if (previous !== undefined) dropPart(machine, transaction, (decodeRecord(previous) as UploadPartRecord).part, timestampMs);
  if (op.part.fragmentOwnerId !== undefined) {
    transaction.put(versionIndexKey(op.part.fragmentOwnerId), encodeRecord([op.bucket, op.key]));
  }
  const record: UploadPartRecord = { format: recordFormatVersion, uploadId: op.uploadId, part: op.part, createdMs: timestampMs };
  transaction.put(partKey, encodeRecord(record));
  return { status: 'part_committed', part: op.part, replaced: previous !== undefined };
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1');
}

/** Checks the client's part list against the uploaded parts; returns the chosen parts or the failure. */
function choose(
  op: Extract<MetaOp, { type: 'complete_upload' }>,
  uploaded: ReadonlyMap<number, PartRecord>,
): { parts: PartRecord[] } | MetaResult {
  if (op.parts.length === 0 || op.parts.length > uploadPartsMax) return { status: 'invalid_part', partNumber: 0 };
  // A part number may be listed more than once (a part re-sent while the first
  // upload was still running): the entry whose ETag matches the stored part wins.
  const parts: PartRecord[] = [];
  let index = 0;
  while (index < op.parts.length) {
    const partNumber = op.parts[index]!.partNumber;
    if (partNumber <= (parts.at(-1)?.partNumber ?? 0)) return { status: 'invalid_part_order' };
    const part = uploaded.get(partNumber);
    let matched = false;
    for (; index < op.parts.length && op.parts[index]!.partNumber === partNumber; index++) {
      if (part !== undefined && unquote(part.etag) === unquote(op.parts[index]!.etag)) matched = true;
    }
    if (part === undefined || !matched) return { status: 'invalid_part', partNumber };
    parts.push(part);
  }
  const tooSmall = parts.slice(0, -1).find((part) => part.sizeBytes < op.partBytesMin);
  if (tooSmall !== undefined) return { status: 'entity_too_small', partNumber: tooSmall.partNumber };
  return { parts };
}

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, then "-N". */
export function multipartEtag(parts: readonly PartRecord[]): string {
  const md5 = createHash('md5');
  for (const part of parts) md5.update(Buffer.from(unquote(part.etag), 'hex'));
  return `"${md5.digest('hex')}-${parts.length}"`;
}

/**
 * A retried Complete after success answers like the first one did: the key's
 * current version is exactly the listed parts.
 */
function alreadyCompleted(reader: KvReader, op: Extract<MetaOp, { type: 'complete_upload' }>): MetaResult | undefined {
  const current = readObject(reader, op.bucket, op.key);
  if (current?.uploadId !== op.uploadId) return undefined;
  const listed = new Map(op.parts.map((part) => [part.partNumber, unquote(part.etag)]));
  const same =
    listed.size === current.parts.length &&
    current.parts.every((part) => part.fragmentOwnerId !== undefined || part.inline !== undefined) &&
    current.parts.every((part) => listed.get(part.partNumber) === unquote(part.etag));
  return same ? { status: 'version_committed', version: current } : undefined;
}

export function completeUpload(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  op: Extract<MetaOp, { type: 'complete_upload' }>,
  timestampMs: number,
): MetaResult {
  const upload = readUpload(transaction, op.bucket, op.key, op.uploadId);
  if (upload === undefined) return alreadyCompleted(transaction, op) ?? { status: 'no_such_upload' };
  const uploaded = new Map(readUploadParts(transaction, op.uploadId).map((record) => [record.part.partNumber, record.part]));
  const chosen = choose(op, uploaded);
  if (!('parts' in chosen)) return chosen;
  const current = readObject(transaction, op.bucket, op.key);
  const verdict = checkConditions(current, op.conditions);
  if (verdict !== 'ok') return { status: verdict };
  const kept = new Set(chosen.parts.map((part) => part.partNumber));
  for (const [partNumber, part] of uploaded) {
    transaction.delete(uploadPartKey(op.uploadId, partNumber));
    if (!kept.has(partNumber)) dropPart(machine, transaction, part, timestampMs);
  }
  transaction.delete(uploadKey(op.bucket, op.key, op.uploadId));
  const version: VersionRecord = {
    format: recordFormatVersion,
    bucket: op.bucket,
    key: op.key,
    versionId: op.versionId,
    state: 'COMMITTED',
    sizeBytes: chosen.parts.reduce((total, part) => total + part.sizeBytes, 0),
    etag: multipartEtag(chosen.parts),
    contentType: upload.contentType,
    headers: upload.headers,
    userMetadata: upload.userMetadata,
    checksums: op.checksums ?? {},
    uploadId: op.uploadId,
    ...(upload.acl === undefined ? {} : { acl: upload.acl }),
    ...(upload.tags === undefined ? {} : { tags: upload.tags }),
    owner: upload.owner,
    createdMs: timestampMs,
    parts: chosen.parts,
  };
  return machine.install(transaction, version, current, timestampMs);
}

export function abortUpload(
  machine: MetaStateMachine,
  transaction: KvTransaction,
  op: Extract<MetaOp, { type: 'abort_upload' }>,
  timestampMs: number,
): MetaResult {
  if (readUpload(transaction, op.bucket, op.key, op.uploadId) === undefined) return { status: 'no_such_upload' };
  for (const record of readUploadParts(transaction, op.uploadId)) {
    transaction.delete(uploadPartKey(op.uploadId, record.part.partNumber));
    dropPart(machine, transaction, record.part, timestampMs);
  }
  transaction.delete(uploadKey(op.bucket, op.key, op.uploadId));
  return { status: 'ok' };
}
