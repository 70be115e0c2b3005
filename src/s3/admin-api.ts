// The admin API, beside the S3 API on the same port: access keys (create,
// list, delete) under /_tessera/admin/keys. Requests are SigV4-signed and only
// the root user may call it. `_tessera` cannot be a bucket name, so no S3 path
// collides. Secrets are returned once, at creation, and never logged.

import { createHash } from 'node:crypto';
import { recordFormatVersion } from '../meta/records.js';
import { assert } from '../stdx/assert.js';
import { authenticate } from './auth/sigv4.js';
import type { S3Services } from './context.js';
import { S3Error } from './errors.js';
import { isoDate } from './http-dates.js';
import type { S3Request, S3Response } from './http.js';

export const adminPathPrefix = '/_tessera/admin/';

const keyAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const secretAlphabet = keyAlphabet + 'abcdefghijklmnopqrstuvwxyz01';

function randomString(services: S3Services, length: number, alphabet: string): string {
  return Array.from(services.env.random.bytes(length), (byte) => alphabet[byte % alphabet.length]!).join('');
}

function json(status: number, value: unknown): S3Response {
  const body = Buffer.from(JSON.stringify(value) + '\n');
  return { status, headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body };
}

/** The canonical id of the account an access key belongs to (as for config users). */
export function userIdOf(accessKeyId: string): string {
  return createHash('sha256').update(`tessera-user:${accessKeyId}`).digest('hex');
}

export async function handleAdmin(services: S3Services, request: S3Request, nowMs: number): Promise<S3Response> {
  const auth = authenticate(request, (accessKeyId) => services.users.byKey(accessKeyId), nowMs, { region: services.region });
  if (auth.anonymous || auth.accessKeyId !== services.rootAccessKeyId) throw new S3Error('AccessDenied', 'The admin API is for the root user');
  const [path = '', rawQuery = ''] = request.rawUrl.split('?', 2);
  const rest = path.slice(adminPathPrefix.length).split('/').filter((part) => part !== '');
  if (rest[0] !== 'keys' || rest.length > 2) throw new S3Error('InvalidRequest', `Unknown admin resource ${path}`);
  const query = new URLSearchParams(rawQuery);
  if (request.method === 'GET' && rest.length === 1) {
    const keys = await services.meta.listAccessKeys();
    return json(200, keys.map(({ accessKeyId, displayName, userId, createdMs }) => ({ accessKeyId, displayName, userId, created: isoDate(createdMs) })));
  }
  if (request.method === 'POST' && rest.length === 1) {
    const displayName = query.get('name') ?? '';
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(displayName)) throw new S3Error('InvalidArgument', 'name must be 1-64 characters of A-Z a-z 0-9 . _ @ -');
    const accessKeyId = 'TK' + randomString(services, 18, keyAlphabet);
    const secretAccessKey = randomString(services, 40, secretAlphabet);
    const userId = userIdOf(accessKeyId);
    const result = await services.meta.submit({
      type: 'create_access_key',
      key: { format: recordFormatVersion, accessKeyId, secretAccessKey, userId, displayName, createdMs: 0 },
    });
    assert(result.status === 'ok', `create_access_key answered ${result.status}`);
    return json(200, { accessKeyId, secretAccessKey, userId, displayName });
  }
  if (request.method === 'DELETE' && rest.length === 2) {
    const accessKeyId = rest[1]!;
    const result = await services.meta.submit({ type: 'delete_access_key', accessKeyId });
    if (result.status === 'no_such_access_key') throw new S3Error('InvalidAccessKeyId', `No access key ${accessKeyId}`);
    return { status: 204, headers: { 'content-length': '0' } };
  }
  throw new S3Error('MethodNotAllowed');
}
