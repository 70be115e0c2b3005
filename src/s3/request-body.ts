// The request body as handlers see it: aws-chunked framing removed (chunk
// signatures checked), x-amz-content-sha256 and x-amz-checksum-* verified while
// the bytes stream through, the length checked against what was declared. Any
// failure throws an S3Error out of the iteration, before the write commits, so
// a bad body never becomes an object.

import { awsChunkedOptionsFor, decodeAwsChunked } from './auth/aws-chunked.js';
import type { AwsChunkedDecoding } from './auth/aws-chunked.js';
import { createPayloadHashVerifier } from './auth/sigv4.js';
import { checksumAlgorithms, checksumHeaderName, createChecksum } from './checksums.js';
import type { ChecksumAccumulator, ChecksumAlgorithm } from './checksums.js';
import type { RequestContext } from './context.js';
import { S3Error } from './errors.js';

export interface PreparedBody {
  readonly data: AsyncIterable<Uint8Array>;
  /** Decoded length when the client declared it. */
  readonly lengthBytes?: number;
  /** Checksums by algorithm (base64), valid once `data` is consumed. */
  checksums(): Record<string, string>;
}

function declaredLength(context: RequestContext, chunked: boolean): number | undefined {
  const name = chunked ? 'x-amz-decoded-content-length' : 'content-length';
  const value = context.request.headers[name];
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value)) throw new S3Error('InvalidArgument', `${name} "${value}" is not a byte count`);
  return Number(value);
}

function headerChecksum(context: RequestContext): { algorithm: ChecksumAlgorithm; expected: string; accumulator: ChecksumAccumulator } | undefined {
  for (const algorithm of checksumAlgorithms) {
    const expected = context.request.headers[checksumHeaderName(algorithm)];
    if (expected !== undefined) return { algorithm, expected, accumulator: createChecksum(algorithm) };
  }
  return undefined;
}

/**
 * `checksumHeaders: false` when x-amz-checksum-* describes something other
 * than this body (CompleteMultipartUpload: the object's composite checksum).
 */
export function prepareBody(context: RequestContext, sizeBytesMax: number, options: { checksumHeaders?: boolean } = {}): PreparedBody {
  const chunkedOptions = awsChunkedOptionsFor(context.auth, context.request.headers);
  const decoding: AwsChunkedDecoding | undefined =
    chunkedOptions === undefined ? undefined : decodeAwsChunked(context.request.body, chunkedOptions);
  const lengthBytes = declaredLength(context, decoding !== undefined);
  if (lengthBytes !== undefined && lengthBytes > sizeBytesMax) throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(sizeBytesMax) });
  const payload = context.auth.payload;
  const hashVerifier = payload.kind === 'sha256' ? createPayloadHashVerifier(payload.hex) : undefined;
  const checksum = options.checksumHeaders === false ? undefined : headerChecksum(context);
  const checksums: Record<string, string> = {};
  const source = decoding?.data ?? context.request.body;

  async function* verified(): AsyncGenerator<Uint8Array> {
    let received = 0;
    for await (const chunk of source) {
      received += chunk.length;
      if (received > sizeBytesMax) throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(sizeBytesMax) });
      hashVerifier?.update(chunk);
      checksum?.accumulator.update(chunk);
      yield chunk;
    }
    if (lengthBytes !== undefined && received !== lengthBytes) throw new S3Error('IncompleteBody');
    hashVerifier?.finish();
    if (checksum !== undefined) {
      const actual = checksum.accumulator.digestBase64();
      if (actual !== checksum.expected) {
        throw new S3Error('BadDigest', `The ${checksum.algorithm} you specified did not match the calculated checksum.`);
      }
      checksums[checksum.algorithm] = actual;
    }
    const trailer = decoding?.result().checksum;
    if (trailer !== undefined) checksums[trailer.algorithm] = trailer.base64;
  }

  return { data: verified(), ...(lengthBytes === undefined ? {} : { lengthBytes }), checksums: () => checksums };
}

/** Reads a small body whole (XML documents), refusing more than `sizeBytesMax`. */
export async function readBodyBytes(context: RequestContext, sizeBytesMax: number, options: { checksumHeaders?: boolean } = {}): Promise<Buffer> {
  const body = prepareBody(context, sizeBytesMax, options);
  const chunks: Uint8Array[] = [];
  for await (const chunk of body.data) chunks.push(chunk);
  return Buffer.concat(chunks);
}
