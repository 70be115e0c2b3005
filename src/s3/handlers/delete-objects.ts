// DeleteObjects: POST /bucket?delete with up to 1000 keys. Each key is its own
// metadata op (they share group commits); per-key failures are reported in the
// result, not as a failed request.

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

function parseKeys(body: Uint8Array): { keys: string[]; quiet: boolean } {
  const parsed = parseXml(body, { trimValues: false }).Delete;
  if (typeof parsed !== 'object' || parsed === null) throw new S3Error('MalformedXML');
  const document = parsed as { Object?: unknown; Quiet?: unknown };
  const objects = document.Object;
  if (!Array.isArray(objects) || objects.length === 0) throw new S3Error('MalformedXML');
  if (objects.length > deleteObjectsKeysMax) throw new S3Error('MalformedXML', `At most ${deleteObjectsKeysMax} keys per request`);
  const keys = objects.map((entry: unknown) => {
    const key = typeof entry === 'object' && entry !== null ? (entry as { Key?: unknown }).Key : undefined;
    if (typeof key !== 'string' && typeof key !== 'number') throw new S3Error('MalformedXML');
    return String(key);
  });
  return { keys, quiet: String(document.Quiet).trim().toLowerCase() === 'true' };
}

export async function deleteObjects(context: RequestContext): Promise<S3Response> {
  const bucket = await requireBucket(context);
  const { keys, quiet } = parseKeys(await readBodyBytes(context, deleteBodyBytesMax));
  const meta = context.services.meta;
  const results = await Promise.all(
    keys.map(async (key) => {
      if (Buffer.byteLength(key) > keyBytesMax) return { key, error: 'KeyTooLongError' };
      const result = await meta.submit({ type: 'delete_object', bucket: bucket.name, key });
      if (result.status === 'no_such_bucket') return { key, error: 'NoSuchBucket' };
      assert(result.status === 'object_deleted', `delete_object answered ${result.status}`);
      return { key, deleted: result.deletedVersionId !== undefined };
    }),
  );
  if (results.some((result) => 'deleted' in result && result.deleted)) context.services.gateway.notifyGarbage();
  const deleted: XmlNode[] = [];
  const errors: XmlNode[] = [];
  for (const result of results) {
    if ('error' in result) errors.push({ Key: result.key, Code: result.error, Message: result.error });
    else if (!quiet) deleted.push({ Key: result.key });
  }
  return xmlResponse('DeleteResult', { Deleted: deleted, Error: errors });
}
