// combineCrc against CRCs computed over the concatenation directly.

import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { combineCrc, crc32Spec, crc32cSpec } from './crc-combine.js';

const crc32 = (bytes: Uint8Array): number => (zlib as unknown as { crc32(data: Uint8Array): number }).crc32(bytes);

test('CRC32 and CRC32C of A‖B from the CRCs of A and B', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
      const whole = Buffer.concat([a, b]);
      assert.equal(combineCrc(crc32Spec, BigInt(crc32(a)), BigInt(crc32(b)), b.length), BigInt(crc32(whole)));
      assert.equal(combineCrc(crc32cSpec, BigInt(crc32c(Buffer.from(a))), BigInt(crc32c(Buffer.from(b))), b.length), BigInt(crc32c(whole)));
    }),
  );
});

test('combining over large lengths matches a direct CRC', () => {
  const a = Buffer.alloc(3 * 1024 * 1024, 7);
  const b = Buffer.alloc(5 * 1024 * 1024 + 3, 9);
  assert.equal(combineCrc(crc32Spec, BigInt(crc32(a)), BigInt(crc32(b)), b.length), BigInt(crc32(Buffer.concat([a, b]))));
});
