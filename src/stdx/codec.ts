// msgpack encoding of records and ops (one place, so options stay consistent).
// Records are plain objects; Uint8Array round-trips as binary.

import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function encodeRecord(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeRecord(bytes: Uint8Array): unknown {
  return packr.unpack(bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
