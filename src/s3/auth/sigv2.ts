// Signature Version 2 presigned URLs (AWSAccessKeyId, Expires, Signature in the
// query): still what boto3 generates by default for presigned GETs and PUTs.
// Only the query form is accepted; SigV2 Authorization headers stay refused.
//   StringToSign = Verb \n Content-MD5 \n Content-Type \n Expires \n
//                  CanonicalizedAmzHeaders CanonicalizedResource
//   Signature    = base64(HMAC-SHA1(secret, StringToSign))

import { createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from '../errors.js';
import type { S3Request } from '../http.js';
import type { CredentialsLookup } from './sigv4.js';

/** Subresources that are part of the signed resource (AWS's list), in sorted order when signed. */
const signedSubresources = new Set([
  'acl', 'delete', 'lifecycle', 'location', 'logging', 'notification', 'partNumber', 'policy', 'requestPayment',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'response-content-language',
  'response-content-type', 'response-expires', 'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'versioning',
  'versions', 'website', 'cors', 'restore', 'attributes',
]);

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, '%20'));
  } catch {
    throw new S3Error('InvalidArgument', 'Invalid URL encoding in the query string');
  }
}

export function isPresignedV2(query: ReadonlyMap<string, string> | URLSearchParams): boolean {
  return query.has('AWSAccessKeyId') && query.has('Signature') && query.has('Expires');
}

/** Verifies a SigV2 presigned request; returns the access key id. Throws S3Error. */
export function authenticatePresignedV2(request: S3Request, lookup: CredentialsLookup, nowMs: number): string {
  const [path = '/', rawQuery = ''] = request.rawUrl.split('?', 2);
  const pairs = rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf('=');
      return at < 0 ? ([decode(part), undefined] as const) : ([decode(part.slice(0, at)), decode(part.slice(at + 1))] as const);
    });
  const value = (name: string): string | undefined => pairs.find(([key]) => key === name)?.[1];
  const accessKeyId = value('AWSAccessKeyId') ?? '';
  const signature = value('Signature') ?? '';
  const expires = value('Expires') ?? '';
  if (!/^\d{1,12}$/.test(expires)) throw new S3Error('AccessDenied', 'Invalid Expires value');
  if (Number(expires) * 1000 < nowMs) throw new S3Error('AccessDenied', 'Request has expired', { Expires: expires });
  const credentials = lookup(accessKeyId);
  if (credentials === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
  const amzHeaders = Object.entries(request.headers)
    .filter(([name, headerValue]) => name.startsWith('x-amz-') && headerValue !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, headerValue]) => `${name}:${headerValue!.trim()}\n`)
    .join('');
  const subresources = pairs
    .filter(([key]) => signedSubresources.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, subValue]) => (subValue === undefined || subValue === '' ? key : `${key}=${subValue}`));
  const resource = path + (subresources.length === 0 ? '' : `?${subresources.join('&')}`);
  const stringToSign = [request.method, request.headers['content-md5'] ?? '', request.headers['content-type'] ?? '', expires, amzHeaders + resource].join('\n');
  const expected = createHmac('sha1', credentials.secretAccessKey).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new S3Error('SignatureDoesNotMatch', undefined, { StringToSign: stringToSign });
  }
  return accessKeyId;
}
