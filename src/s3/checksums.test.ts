// Known answers for the checksum accumulators, and agreement with the AWS SDK's
// own implementations (what clients actually send) under arbitrary chunking.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { Crc32, Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';
import {
  checksumAlgorithms,
  checksumHeaderName,
  createChecksum,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
  type DigestAlgorithm,
} from './checksums.js';

function digestBase64(algorithm: DigestAlgorithm, chunks: readonly Uint8Array[]): string {
  const checksum = createChecksum(algorithm);
  for (const chunk of chunks) checksum.update(chunk);
  return checksum.digestBase64();
}

async function sdkBase64(algorithm: ChecksumAlgorithm, data: Uint8Array): Promise<string> {
  if (algorithm === 'SHA1' || algorithm === 'SHA256') {
    return createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256').update(data).digest('base64');
  }
  const checksum = algorithm === 'CRC32' ? new Crc32() : algorithm === 'CRC32C' ? new Crc32c() : new Crc64Nvme();
  checksum.update(data);
  return Buffer.from(await checksum.digest()).toString('base64');
}

function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(data.subarray(start, point));
    start = point;
  }
  pieces.push(data.subarray(start));
  return pieces;
}

describe('checksums', () => {
  it('CRC64NVME check value of "123456789" is 0xae8b14860a799888', () => {
    const expected = Buffer.from('ae8b14860a799888', 'hex').toString('base64');
    assert.equal(digestBase64('CRC64NVME', [Buffer.from('123456789')]), expected);
  });

  it('CRC32 of "hello" is zlib crc32 as 4 big-endian bytes', async () => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(zlibCrc32('hello'));
    assert.equal(digestBase64('CRC32', [Buffer.from('hello')]), bytes.toString('base64'));
    assert.equal(digestBase64('CRC32', [Buffer.from('hello')]), await sdkBase64('CRC32', Buffer.from('hello')));
  });

  it('CRC32C of "123456789" is 0xe3069283', () => {
    assert.equal(digestBase64('CRC32C', [Buffer.from('123456789')]), Buffer.from('e3069283', 'hex').toString('base64'));
  });

  it('empty input', () => {
    assert.equal(digestBase64('CRC32', []), 'AAAAAA==');
    assert.equal(digestBase64('CRC32C', []), 'AAAAAA==');
    assert.equal(digestBase64('CRC64NVME', []), 'AAAAAAAAAAA=');
    assert.equal(digestBase64('SHA256', []), createHash('sha256').digest('base64'));
    assert.equal(digestBase64('MD5', []), '1B2M2Y8AsgTpgAmY7PhCfg==');
  });

  it('SHA1, SHA256 and MD5 match node:crypto', () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog');
    for (const [algorithm, name] of [
      ['SHA1', 'sha1'],
      ['SHA256', 'sha256'],
      ['MD5', 'md5'],
    ] as const) {
      assert.equal(digestBase64(algorithm, [data]), createHash(name).update(data).digest('base64'));
    }
  });

  it('every algorithm matches the AWS SDK, however the input is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...checksumAlgorithms),
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (algorithm, data, cuts) => {
          assert.equal(digestBase64(algorithm, splitAt(data, cuts)), await sdkBase64(algorithm, data));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('CRC64NVME matches the SDK on a large buffer (slicing-by-8 path)', async () => {
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    assert.equal(digestBase64('CRC64NVME', [data.subarray(0, 12345), data.subarray(12345)]), await sdkBase64('CRC64NVME', data));
  });

  it('header names and algorithm parsing', () => {
    assert.equal(checksumHeaderName('CRC32'), 'x-amz-checksum-crc32');
    assert.equal(checksumHeaderName('CRC64NVME'), 'x-amz-checksum-crc64nvme');
    assert.equal(checksumHeaderName('SHA256'), 'x-amz-checksum-sha256');
    for (const algorithm of checksumAlgorithms) {
      assert.equal(parseChecksumAlgorithm(checksumHeaderName(algorithm)), algorithm);
      assert.equal(parseChecksumAlgorithm(algorithm.toLowerCase()), algorithm);
      assert.equal(parseChecksumAlgorithm(algorithm), algorithm);
    }
    assert.equal(parseChecksumAlgorithm('X-Amz-Checksum-CRC32C'), 'CRC32C');
    assert.equal(parseChecksumAlgorithm('crc64nvme'), 'CRC64NVME');
    assert.equal(parseChecksumAlgorithm('md5'), undefined);
    assert.equal(parseChecksumAlgorithm('x-amz-checksum-type'), undefined);
    assert.equal(parseChecksumAlgorithm(''), undefined);
  });

  it('digest is final', () => {
    const checksum = createChecksum('CRC32');
    checksum.digest();
    assert.throws(() => {
      checksum.update(Buffer.from('x'));
    });
  });
});
