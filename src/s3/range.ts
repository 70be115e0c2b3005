// The HTTP Range header for GET: one `bytes=` range (first-last, first-, -suffix).
// A header S3 cannot parse is ignored (whole object), as AWS does; a range that
// starts past the end is 416 InvalidRange.

import { S3Error } from './errors.js';

export interface ByteRange {
  readonly first: number;
  readonly last: number;
}

export function parseRange(header: string | undefined, sizeBytes: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, firstText, lastText] = match as unknown as [string, string, string];
  if (firstText === '' && lastText === '') return undefined;
  if (firstText === '') {
    const suffix = Number(lastText);
    if (suffix === 0) throw invalidRange(sizeBytes);
    if (sizeBytes === 0) throw invalidRange(sizeBytes);
    return { first: Math.max(0, sizeBytes - suffix), last: sizeBytes - 1 };
  }
  const first = Number(firstText);
  const last = lastText === '' ? sizeBytes - 1 : Math.min(Number(lastText), sizeBytes - 1);
  if (lastText !== '' && Number(lastText) < first) return undefined;
  if (first >= sizeBytes) throw invalidRange(sizeBytes);
  return { first, last };
}

function invalidRange(sizeBytes: number): S3Error {
  return new S3Error('InvalidRange', undefined, { ActualObjectSize: String(sizeBytes) });
}
