// Property tests of the fragment file codec: headers round-trip, every single
// bit flip is caught, layout math agrees with the writer's arithmetic, and the
// v1 bytes are pinned so the on-disk format cannot drift silently.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  blockChecksum,
  blockChecksumBytes,
  blockOffsetBytes,
  blockSizeBytesMax,
  decodeHeader,
  encodeHeader,
  fragmentHeaderBytes,
  fragmentLayout,
  frameBlock,
  isFragmentId,
  verifyBlock,
} from './fragment-format.js';
import type { FragmentHeader } from './fragment-format.js';
import { crc32c } from '@node-rs/crc32';

const fragmentIdArbitrary = fc.stringMatching(/^[0-9a-z-]{8,40}$/);
const blockSizeArbitrary = fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: blockSizeBytesMax }));
const fieldsArbitrary = fc.record({ fragmentId: fragmentIdArbitrary, blockSizeBytes: blockSizeArbitrary });

function headerOf(blockSizeBytes: number): FragmentHeader {
  return { formatVersion: 1, headerBytes: fragmentHeaderBytes, fragmentId: 'abcdef0123', blockSizeBytes };
}

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

describe('fragment header', () => {
  it('round-trips every valid id and block size', () => {
    fc.assert(
      fc.property(fieldsArbitrary, (fields) => {
        const bytes = encodeHeader(fields);
        assert.equal(bytes.length, fragmentHeaderBytes);
        const decoded = decodeHeader(bytes);
        assert.deepEqual(decoded, { status: 'ok', header: { formatVersion: 1, headerBytes: fragmentHeaderBytes, ...fields } });
      }),
    );
  });

  it('reads every single bit flip as corrupt', () => {
    fc.assert(
      fc.property(fieldsArbitrary, fc.integer({ min: 0, max: fragmentHeaderBytes * 8 - 1 }), (fields, bit) => {
        const decoded = decodeHeader(flipBit(encodeHeader(fields), bit));
        assert.equal(decoded.status, 'corrupt');
      }),
    );
  });

  it('never throws on arbitrary bytes, and what decodes re-encodes identically', () => {
    const validPrefix = encodeHeader({ fragmentId: 'abcdef0123', blockSizeBytes: 100 });
    const bytesArbitrary = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 80 }),
      // Valid magic and length fields, so the checks past the magic get exercised.
      fc.uint8Array({ minLength: 56, maxLength: 56 }).map((tail) => Buffer.concat([validPrefix.subarray(0, 8), tail])),
    );
    fc.assert(
      fc.property(bytesArbitrary, (bytes) => {
        const decoded = decodeHeader(bytes);
        if (decoded.status === 'ok') assert.deepEqual(encodeHeader(decoded.header), Buffer.from(bytes.subarray(0, fragmentHeaderBytes)));
      }),
    );
  });

  it('rejects short input, bad magic, and nonzero padding with a valid checksum', () => {
    const good = encodeHeader({ fragmentId: 'abcdef0123', blockSizeBytes: 100 });
    assert.equal(decodeHeader(good.subarray(0, 63)).status, 'corrupt');
    const badMagic = Buffer.from(good);
    badMagic.write('XSFR', 0, 'ascii');
    assert.deepEqual(decodeHeader(badMagic), { status: 'corrupt', reason: 'bad magic' });
    const padded = Buffer.from(good);
    padded[55] = 1;
    padded.writeUInt32LE(crc32c(padded.subarray(0, 60)), 60);
    assert.deepEqual(decodeHeader(padded), { status: 'corrupt', reason: 'nonzero padding at byte 55' });
  });

  it('reports a later format version (with a valid checksum) as unsupported, not corrupt', () => {
    const future = encodeHeader({ fragmentId: 'abcdef0123', blockSizeBytes: 100 });
    future.writeUInt16LE(2, 4);
    future.writeUInt32LE(crc32c(future.subarray(0, 60)), 60);
    assert.deepEqual(decodeHeader(future), { status: 'unsupported_version', formatVersion: 2 });
  });

  it('pins the v1 bytes', () => {
    const bytes = encodeHeader({ fragmentId: 'abcdef0123', blockSizeBytes: 65536 });
    const expected =
      '54534652' + '0100' + '4000' + '00000100' + '0a' + Buffer.from('abcdef0123').toString('hex') + '00'.repeat(30 + 7);
    assert.equal(bytes.subarray(0, 60).toString('hex'), expected);
    assert.equal(bytes.readUInt32LE(60), crc32c(bytes.subarray(0, 60)));
  });

  it('accepts exactly the fragment id alphabet and lengths', () => {
    assert.ok(isFragmentId('abcdefgh'));
    assert.ok(isFragmentId('0123456789-abcdefghijklmnopqrstuvwxyz-ab'));
    assert.ok(!isFragmentId('abcdefg'));
    assert.ok(!isFragmentId('a'.repeat(41)));
    assert.ok(!isFragmentId('ABCDEFGH'));
    assert.ok(!isFragmentId('../abcdefgh'));
    assert.ok(!isFragmentId('abcd efgh'));
  });
});

describe('fragment blocks', () => {
  it('uses the standard CRC32C (Castagnoli) check value', () => {
    assert.equal(blockChecksum(Buffer.from('123456789')).readUInt32LE(0), 0xe3069283);
  });

  it('verifies framed blocks and catches every single bit flip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), (data, bitSeed) => {
        const frame = Buffer.concat(frameBlock(data));
        assert.equal(frame.length, data.length + blockChecksumBytes);
        const verified = verifyBlock(frame);
        assert.equal(verified.status, 'ok');
        assert.deepEqual(new Uint8Array(verified.data), data);
        const flipped = verifyBlock(flipBit(frame, bitSeed % (frame.length * 8)));
        assert.equal(flipped.status, 'corrupt');
      }),
    );
  });

  it('places block i at header + i * (blockSize + 4)', () => {
    fc.assert(
      fc.property(blockSizeArbitrary, fc.integer({ min: 0, max: 100_000 }), (blockSizeBytes, index) => {
        const header = headerOf(blockSizeBytes);
        assert.equal(blockOffsetBytes(header, index), fragmentHeaderBytes + index * (blockSizeBytes + 4));
      }),
    );
    assert.equal(blockOffsetBytes(headerOf(10), 0), fragmentHeaderBytes);
  });

  it('derives block count and last block length from the file size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 1000 }), fc.nat(), (blockSizeBytes, fullBlocks, lastSeed) => {
        const header = headerOf(blockSizeBytes);
        const lastBlockBytes = 1 + (lastSeed % blockSizeBytes);
        const fileSizeBytes = blockOffsetBytes(header, fullBlocks) + lastBlockBytes + blockChecksumBytes;
        assert.deepEqual(fragmentLayout(header, fileSizeBytes), { status: 'ok', blockCount: fullBlocks + 1, lastBlockBytes });
      }),
    );
  });

  it('reads a file without a whole block or with a torn checksum as corrupt', () => {
    const header = headerOf(10);
    for (const size of [0, 10, fragmentHeaderBytes, fragmentHeaderBytes + 1, fragmentHeaderBytes + 4, fragmentHeaderBytes + 14 + 3]) {
      assert.equal(fragmentLayout(header, size).status, 'corrupt', `size ${size}`);
    }
    assert.deepEqual(fragmentLayout(header, fragmentHeaderBytes + 5), { status: 'ok', blockCount: 1, lastBlockBytes: 1 });
  });
});
