// Combines CRCs of consecutive pieces into the CRC of the whole (zlib's
// crc32_combine, generalised to any reflected CRC with all-ones init and
// xorout: CRC32, CRC32C, CRC64NVME). S3 uses it for FULL_OBJECT checksums of
// multipart uploads, built from the parts' CRCs without re-reading the data.
// BigInt keeps one code path for 32 and 64 bits; it runs once per part.

import { assert } from './assert.js';

export interface ReflectedCrc {
  readonly widthBits: 32 | 64;
  /** The reflected polynomial, e.g. 0xEDB88320 for CRC32. */
  readonly polynomial: bigint;
}

export const crc32Spec: ReflectedCrc = { widthBits: 32, polynomial: 0xedb88320n };
export const crc32cSpec: ReflectedCrc = { widthBits: 32, polynomial: 0x82f63b78n };
export const crc64NvmeSpec: ReflectedCrc = { widthBits: 64, polynomial: 0x9a6c9329ac4bc9b5n };

/** a · b mod P in the reflected representation. */
function multiplyModP(spec: ReflectedCrc, a: bigint, b: bigint): bigint {
  const top = 1n << BigInt(spec.widthBits - 1);
  let m = top;
  let product = 0n;
  let multiplier = b;
  for (;;) {
    if ((a & m) !== 0n) {
      product ^= multiplier;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    multiplier = (multiplier & 1n) !== 0n ? (multiplier >> 1n) ^ spec.polynomial : multiplier >> 1n;
  }
  return product;
}

/** x^(8 · lengthBytes) mod P. */
function shiftOperator(spec: ReflectedCrc, lengthBytes: number): bigint {
  const top = 1n << BigInt(spec.widthBits - 1);
  let power = top >> 1n; // x^1
  for (let i = 0; i < 3; i++) power = multiplyModP(spec, power, power); // x^8
  let result = top; // x^0
  let remaining = BigInt(lengthBytes);
  while (remaining > 0n) {
    if ((remaining & 1n) !== 0n) result = multiplyModP(spec, power, result);
    power = multiplyModP(spec, power, power);
    remaining >>= 1n;
  }
  return result;
}

/** CRC(A ‖ B) from CRC(A), CRC(B) and the length of B. */
export function combineCrc(spec: ReflectedCrc, crcA: bigint, crcB: bigint, lengthBBytes: number): bigint {
  assert(Number.isSafeInteger(lengthBBytes) && lengthBBytes >= 0, `length ${lengthBBytes}`);
  const mask = (1n << BigInt(spec.widthBits)) - 1n;
  assert(crcA >= 0n && crcA <= mask && crcB >= 0n && crcB <= mask, 'CRC values fit the width');
  if (lengthBBytes === 0) return crcA;
  return multiplyModP(spec, shiftOperator(spec, lengthBBytes), crcA) ^ crcB;
}
