// Incremental checksums for S3's flexible-checksum headers (x-amz-checksum-*)
// and for Content-MD5 / ETags. Each accumulator takes chunks as they stream in
// and yields AWS's wire form: the digest bytes (CRCs big-endian) in base64.
// CRC64NVME has no native binding here, so it is a slicing-by-8 table CRC on
// two 32-bit halves (no BigInt in the hot loop).

import { createHash, type Hash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { assert } from '../stdx/assert.js';

export const checksumAlgorithms = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];
/** Every digest an accumulator can compute: the flexible checksums plus MD5 (Content-MD5, ETag). */
export type DigestAlgorithm = ChecksumAlgorithm | 'MD5';

export interface ChecksumAccumulator {
  readonly algorithm: DigestAlgorithm;
  update(chunk: Uint8Array): void;
  /** The digest bytes (CRCs big-endian). Call once, after the last update. */
  digest(): Buffer;
  /** The digest as S3 sends it in x-amz-checksum-* headers and trailers. */
  digestBase64(): string;
}

export function createChecksum(algorithm: DigestAlgorithm): ChecksumAccumulator {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Accumulator('CRC32', (chunk, state) => zlibCrc32(chunk, state));
    case 'CRC32C':
      return new Crc32Accumulator('CRC32C', (chunk, state) => crc32c(chunk, state));
    case 'CRC64NVME':
      return new Crc64NvmeAccumulator();
    case 'SHA1':
      return new HashAccumulator('SHA1', 'sha1');
    case 'SHA256':
      return new HashAccumulator('SHA256', 'sha256');
    case 'MD5':
      return new HashAccumulator('MD5', 'md5');
  }
}

/** `CRC32` → `x-amz-checksum-crc32`. */
export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/**
 * The algorithm named by a header name (`x-amz-checksum-crc32c`) or by an
 * `x-amz-sdk-checksum-algorithm` / `x-amz-checksum-algorithm` value (`crc32c`),
 * case-insensitively; undefined for anything else (including MD5, which is not
 * a flexible checksum).
 */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const prefix = 'x-amz-checksum-';
  let candidate = name.trim().toUpperCase();
  if (candidate.startsWith(prefix.toUpperCase())) candidate = candidate.slice(prefix.length);
  return checksumAlgorithms.find((algorithm) => algorithm === candidate);
}

/** Size of each algorithm's digest in bytes; base64 length is 4 * ceil(n / 3). */
export const checksumDigestBytes: Readonly<Record<DigestAlgorithm, number>> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
  MD5: 16,
};

class Crc32Accumulator implements ChecksumAccumulator {
  private state = 0;
  private finished = false;

  constructor(
    readonly algorithm: 'CRC32' | 'CRC32C',
    private readonly step: (chunk: Uint8Array, state: number) => number,
  ) {}

  update(chunk: Uint8Array): void {
    assert(!this.finished, `${this.algorithm} checksum updated after digest`);
    this.state = this.step(chunk, this.state);
  }

  digest(): Buffer {
    assert(!this.finished, `${this.algorithm} checksum digested twice`);
    this.finished = true;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(this.state >>> 0, 0);
    return bytes;
  }

  digestBase64(): string {
    return this.digest().toString('base64');
  }
}

class HashAccumulator implements ChecksumAccumulator {
  private readonly hash: Hash;

  constructor(
    readonly algorithm: 'SHA1' | 'SHA256' | 'MD5',
    nodeName: 'sha1' | 'sha256' | 'md5',
  ) {
    this.hash = createHash(nodeName);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  digestBase64(): string {
    return this.digest().toString('base64');
  }
}

// CRC-64/NVME: reflected, polynomial 0x9a6c9329ac4bc9b5, init and xorout all
// ones. The table holds 8 slices of 256 entries, each entry a (lo, hi) pair of
// 32-bit halves: slice k maps a byte to its contribution after k more bytes.
const crc64PolyLo = 0xac4bc9b5;
const crc64PolyHi = 0x9a6c9329;
const crc64Slices = 8;
const crc64Table = buildCrc64Table();

function buildCrc64Table(): Uint32Array {
  const table = new Uint32Array(crc64Slices * 256 * 2);
  for (let index = 0; index < 256; index++) {
    let lo = index;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry !== 0) {
        lo = (lo ^ crc64PolyLo) >>> 0;
        hi = (hi ^ crc64PolyHi) >>> 0;
      }
    }
    table[index * 2] = lo;
    table[index * 2 + 1] = hi;
  }
  for (let slice = 1; slice < crc64Slices; slice++) {
    for (let index = 0; index < 256; index++) {
      const previous = ((slice - 1) * 256 + index) * 2;
      const lo = table[previous]!;
      const hi = table[previous + 1]!;
      const low = (lo & 0xff) * 2;
      const at = (slice * 256 + index) * 2;
      table[at] = (((lo >>> 8) | (hi << 24)) ^ table[low]!) >>> 0;
      table[at + 1] = ((hi >>> 8) ^ table[low + 1]!) >>> 0;
    }
  }
  return table;
}

class Crc64NvmeAccumulator implements ChecksumAccumulator {
  readonly algorithm = 'CRC64NVME';
  // The register, pre-inverted (init all ones).
  private lo = 0xffffffff;
  private hi = 0xffffffff;
  private finished = false;

  update(chunk: Uint8Array): void {
    assert(!this.finished, 'CRC64NVME checksum updated after digest');
    const t = crc64Table;
    let lo = this.lo;
    let hi = this.hi;
    let i = 0;
    const wholeEnd = chunk.length - (chunk.length % 8);
    for (; i < wholeEnd; i += 8) {
      lo ^= chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 24);
      hi ^= chunk[i + 4]! | (chunk[i + 5]! << 8) | (chunk[i + 6]! << 16) | (chunk[i + 7]! << 24);
      // Byte j of the 8-byte word is followed by 7 - j more bytes: slice 7 - j.
      const a = (7 * 256 + (lo & 0xff)) * 2;
      const b = (6 * 256 + ((lo >>> 8) & 0xff)) * 2;
      const c = (5 * 256 + ((lo >>> 16) & 0xff)) * 2;
      const d = (4 * 256 + (lo >>> 24)) * 2;
      const e = (3 * 256 + (hi & 0xff)) * 2;
      const f = (2 * 256 + ((hi >>> 8) & 0xff)) * 2;
      const g = (1 * 256 + ((hi >>> 16) & 0xff)) * 2;
      const h = (hi >>> 24) * 2;
      lo = t[a]! ^ t[b]! ^ t[c]! ^ t[d]! ^ t[e]! ^ t[f]! ^ t[g]! ^ t[h]!;
      hi = t[a + 1]! ^ t[b + 1]! ^ t[c + 1]! ^ t[d + 1]! ^ t[e + 1]! ^ t[f + 1]! ^ t[g + 1]! ^ t[h + 1]!;
    }
    for (; i < chunk.length; i++) {
      const at = ((lo ^ chunk[i]!) & 0xff) * 2;
      lo = ((lo >>> 8) | (hi << 24)) ^ t[at]!;
      hi = (hi >>> 8) ^ t[at + 1]!;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  digest(): Buffer {
    assert(!this.finished, 'CRC64NVME checksum digested twice');
    this.finished = true;
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    bytes.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return bytes;
  }

  digestBase64(): string {
    return this.digest().toString('base64');
  }
}
