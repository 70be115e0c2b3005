// DeleteObjects: POST /bucket?delete with up to 1000 keys. Each key is its own
// metadata op (they share group commits); per-key failures are reported in the
// result, not as a failed request.

import { newVersionId } from '../../gateway/ids.js';
import { assert } from '../../stdx/assert.js';
import type { RequestContext } from '../context.js';
import { requireBucket } from '../context.js';
import { S3Error } from '../errors.js';
import type { S3Response } from '../http.js';
import { readBodyBytes } from '../request-body.js';
import { keyBytesMax } from '../request-target.js';
import { xmlResponse } from '../response.js';
import { parseXml } from '../xml.js';
import type { XmlNode } from '../xml.js';

export const deleteObjectsKeysMax = 1000;
const deleteBodyBytesMax = 2 * 1024 * 1024;

interface DeleteTarget {
  readonly key: string;
  readonly versionId?: string;
}

function parseKeys(body: Uint8Array): { keys: DeleteTarget[]; quiet: boolean } {
  const parsed = parseXml(body, { trimValues: false }).Delete;
  if (typeof parsed !== 'object' || parsed === null) throw new S3Error('MalformedXML');
  const document = parsed as { Object?: unknown; Quiet?: unknown };
  const objects = document.Object;
  if (!Array.isArray(objects) || objects.length === 0) throw new S3Error('MalformedXML');
  if (objects.length > deleteObjectsKeysMax) throw new S3Error('MalformedXML', `At most ${deleteObjectsKeysMax} keys per request`);
  const keys = objects.map((entry: unknown): DeleteTarget => {
    const fields = (typeof entry === 'object' && entry !== null ? entry : {}) as { Key?: unknown; VersionId?: unknown };
    if (typeof fields.Key !== 'string' && typeof fields.Key !== 'number') throw new S3Error('MalformedXML');
    const versionId = typeof fields.VersionId === 'string' && fields.VersionId.trim() !== '' ? fields.VersionId.trim() : undefined;
    return { key: String(fields.Key), ...(versionId === undefined ? {} : { versionId }) };
  });
  return { keys, quiet: String(document.Quiet).trim().toLowerCase() === 'true' };
}

export async function deleteObjects(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context, 'WRITE');
  const { keys, quiet } = parseKeys(await readBodyBytes(context, deleteBodyBytesMax));
  const meta = context.services.meta;
  const { env } = context.services;
  const results = await Promise.all(
    keys.map(async ({ key, versionId }) => {
      if (Buffer.byteLength(key) > keyBytesMax) return { key, error: 'KeyTooLongError' };
      if (key.includes('\u0000')) return { key, error: 'InvalidArgument' };
      if (versionId !== undefined && versionId !== 'null' && !/^[0-9a-f]{28}$/.test(versionId)) return { key, versionId, error: 'NoSuchVersion' };
      const result = await meta.submit({
        type: 'delete_object',
        bucket: bucket.name,
        key,
        ...(versionId === undefined ? {} : { s3VersionId: versionId }),
        markerVersionId: newVersionId(env.clock, env.random),
      });
      if (result.status === 'no_such_bucket') return { key, error: 'NoSuchBucket' };
      assert(result.status === 'object_deleted', `delete_object answered ${result.status}`);
      return { key, versionId, freed: result.deletedVersionId !== undefined, marker: result.deleteMarker === true, s3VersionId: result.s3VersionId };
    }),
  );
  if (results.some((result) => 'freed' in result && result.freed)) context.services.gateway.notifyGarbage();
  const deleted: XmlNode[] = [];
  const errors: XmlNode[] = [];
  for (const result of results) {
    if ('error' in result) errors.push({ Key: result.key, VersionId: result.versionId, Code: result.error, Message: result.error });
    else if (!quiet) {
      deleted.push({
        Key: result.key,
        VersionId: result.versionId,
        DeleteMarker: result.marker ? true : undefined,
        DeleteMarkerVersionId: result.marker ? result.s3VersionId : undefined,
      });
    }
  }
  return xmlResponse('DeleteResult', { Deleted: deleted, Error: errors });
}
