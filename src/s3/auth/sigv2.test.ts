// SigV2 presigned URLs against AWS's documented query-string example.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../errors.js';
import type { S3Request } from '../http.js';
import { authenticatePresignedV2 } from './sigv2.js';

const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const lookup = (id: string): typeof credentials | undefined => (id === credentials.accessKeyId ? credentials : undefined);

function request(rawUrl: string): S3Request {
  const body = (async function* (): AsyncGenerator<Uint8Array> {})();
  return { method: 'GET', rawUrl, headers: {}, body, remoteAddress: '127.0.0.1' };
}

// From the S3 documentation: "Query string request authentication alternative".
const documented = '/johnsmith/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D';

test('the documented SigV2 presigned URL verifies before it expires', () => {
  assert.equal(authenticatePresignedV2(request(documented), lookup, 1175139620 * 1000 - 1000), credentials.accessKeyId);
});

test('an expired, tampered or unknown-key SigV2 URL is refused with the right code', () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof S3Error);
      return error.code;
    }
    return 'none';
  };
  assert.equal(codeOf(() => authenticatePresignedV2(request(documented), lookup, 1175139621 * 1000)), 'AccessDenied');
  assert.equal(codeOf(() => authenticatePresignedV2(request(documented.replace('puppy', 'kitty')), lookup, 0)), 'SignatureDoesNotMatch');
  assert.equal(codeOf(() => authenticatePresignedV2(request(documented.replace('AKIAIOSFODNN7EXAMPLE', 'AKIDUNKNOWN')), lookup, 0)), 'InvalidAccessKeyId');
});
