// aws-chunked decoding: the AWS documentation examples (signed, signed with a
// trailer), bodies built by a test encoder that computes real chunk signatures,
// the JS SDK's unsigned-trailer shape, corruption and truncation, and a
// property test that any split of the body across reads decodes the same.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/core/serde';
import { HttpRequest } from '@smithy/core/protocols';
import { S3Error, type S3ErrorCode } from '../errors.js';
import type { S3Request } from '../http.js';
import { checksumHeaderName, createChecksum, type ChecksumAlgorithm } from '../checksums.js';
import {
  awsChunkedOptionsFor,
  decodeAwsChunked,
  type AwsChunkedMode,
  type AwsChunkedOptions,
  type AwsChunkedResult,
} from './aws-chunked.js';
import { authenticate, deriveSigningKey, emptySha256Hex, type AuthenticatedResult } from './sigv4.js';

const docKey = deriveSigningKey('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20130524', 'us-east-1');
const docScope = '20130524/us-east-1/s3/aws4_request';
const docAmzDate = '20130524T000000Z';

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

interface EncodeOptions {
  mode: AwsChunkedMode;
  chunkSizeBytes: number;
  signingKey?: Buffer;
  seedSignature?: string;
  trailers?: readonly (readonly [string, string])[];
}

/** A test encoder: real chunk and trailer signatures, CRLF framing as clients send it. */
function encodeAwsChunked(data: Uint8Array, options: EncodeOptions): Buffer {
  const parts: Buffer[] = [];
  let previous = options.seedSignature ?? '';
  const sign = (chunk: Uint8Array): string => {
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', docAmzDate, docScope, previous, emptySha256Hex, sha256Hex(chunk)].join('\n');
    previous = hmacHex(options.signingKey!, stringToSign);
    return previous;
  };
  const signed = options.mode !== 'unsigned-trailer';
  const frame = (chunk: Uint8Array): void => {
    const extension = signed ? `;chunk-signature=${sign(chunk)}` : '';
    parts.push(Buffer.from(`${chunk.length.toString(16)}${extension}\r\n`), Buffer.from(chunk), Buffer.from('\r\n'));
  };
  for (let offset = 0; offset < data.length; offset += options.chunkSizeBytes) {
    frame(data.subarray(offset, offset + options.chunkSizeBytes));
  }
  const extension = signed ? `;chunk-signature=${sign(new Uint8Array(0))}` : '';
  parts.push(Buffer.from(`0${extension}\r\n`));
  const trailerLines = (options.trailers ?? []).map(([name, value]) => `${name}:${value}`);
  for (const line of trailerLines) parts.push(Buffer.from(`${line}\r\n`));
  if (options.mode === 'signed-trailer') {
    const canonical = trailerLines.map((line) => `${line}\n`).join('');
    const stringToSign = ['AWS4-HMAC-SHA256-TRAILER', docAmzDate, docScope, previous, sha256Hex(canonical)].join('\n');
    parts.push(Buffer.from(`x-amz-trailer-signature:${hmacHex(options.signingKey!, stringToSign)}\r\n`));
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

function checksumOf(algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  const checksum = createChecksum(algorithm);
  checksum.update(data);
  return checksum.digestBase64();
}

async function* pieces(body: Uint8Array, cuts: readonly number[] = []): AsyncGenerator<Uint8Array> {
  const points = [...new Set(cuts.map((cut) => cut % (body.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, body.length]) {
    await Promise.resolve(); // each read arrives on its own turn, as from a socket
    yield body.subarray(start, point);
    start = point;
  }
}

interface Decoded {
  data: Buffer;
  result: AwsChunkedResult;
}

async function decode(body: Uint8Array, options: AwsChunkedOptions, cuts: readonly number[] = []): Promise<Decoded> {
  const decoding = decodeAwsChunked(pieces(body, cuts), options);
  const out: Uint8Array[] = [];
  for await (const piece of decoding.data) out.push(piece);
  return { data: Buffer.concat(out), result: decoding.result() };
}

/** Decodes, collecting what was released before the failure. */
async function decodeFailing(
  body: Uint8Array,
  options: AwsChunkedOptions,
  cuts: readonly number[] = [],
): Promise<{ error: S3Error; released: Buffer }> {
  const decoding = decodeAwsChunked(pieces(body, cuts), options);
  const out: Uint8Array[] = [];
  try {
    for await (const piece of decoding.data) out.push(piece);
  } catch (error) {
    assert.ok(error instanceof S3Error, `expected S3Error, got ${String(error)}`);
    return { error, released: Buffer.concat(out) };
  }
  assert.fail('expected the decode to fail');
}

async function rejects(body: Uint8Array, options: AwsChunkedOptions, code: S3ErrorCode): Promise<void> {
  const { error } = await decodeFailing(body, options);
  assert.equal(error.code, code, error.message);
}

const docSigned: AwsChunkedOptions = {
  mode: 'signed',
  signingKey: docKey,
  seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  amzDate: docAmzDate,
  scope: docScope,
};

function docSignedBody(): Buffer {
  const chunk = (size: number, signature: string): string => `${size.toString(16)};chunk-signature=${signature}\r\n${'a'.repeat(size)}\r\n`;
  return Buffer.from(
    chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648') +
      chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497') +
      '0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n',
  );
}

describe('aws-chunked: AWS documentation examples', () => {
  it('signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', async () => {
    const body = docSignedBody();
    assert.equal(body.length, 66824); // the example's Content-Length
    const { data, result } = await decode(body, { ...docSigned, decodedLengthBytes: 66560 });
    assert.ok(data.equals(Buffer.alloc(66560, 'a')));
    assert.deepEqual(result, { trailers: {}, decodedLengthBytes: 66560 });
  });

  it('signed chunks with a signed CRC32C trailer', async () => {
    const chunk = (size: number, signature: string): string => `${size.toString(16)};chunk-signature=${signature}\r\n${'a'.repeat(size)}\r\n`;
    const body = Buffer.from(
      chunk(65536, 'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2') +
        chunk(1024, '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7') +
        '0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n' +
        'x-amz-checksum-crc32c:sOO8/Q==\r\n' +
        'x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n',
    );
    const options: AwsChunkedOptions = {
      mode: 'signed-trailer',
      signingKey: docKey,
      seedSignature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
      amzDate: docAmzDate,
      scope: docScope,
      decodedLengthBytes: 66560,
      declaredTrailer: 'x-amz-checksum-crc32c',
    };
    const { data, result } = await decode(body, options);
    assert.equal(data.length, 66560);
    assert.deepEqual(result, {
      trailers: { 'x-amz-checksum-crc32c': 'sOO8/Q==' },
      decodedLengthBytes: 66560,
      checksum: { algorithm: 'CRC32C', base64: 'sOO8/Q==' },
    });
    const forged = Buffer.from(body.toString('latin1').replace('sOO8/Q==', 'AAAAAA=='), 'latin1');
    await rejects(forged, options, 'SignatureDoesNotMatch');
  });
});

describe('aws-chunked: signed chunks', () => {
  it('releases nothing of a chunk whose signature is wrong', async () => {
    const body = docSignedBody();
    const secondChunkData = body.indexOf('400;chunk-signature=') + 86;
    body[secondChunkData + 10] = 'b'.charCodeAt(0);
    // Delivered whole, push() throws before returning anything; delivered in
    // reads, the verified first chunk is released and none of the second.
    assert.equal((await decodeFailing(body, docSigned)).released.length, 0);
    const { error, released } = await decodeFailing(body, docSigned, [secondChunkData, secondChunkData + 100]);
    assert.equal(error.code, 'SignatureDoesNotMatch');
    assert.equal(released.length, 65536);
  });

  it('rejects a wrong seed, reordered chunks, and a missing chunk-signature', async () => {
    await rejects(docSignedBody(), { ...docSigned, seedSignature: emptySha256Hex }, 'SignatureDoesNotMatch');
    const data = Buffer.alloc(3000, 7);
    data[0] = 1;
    const options = { ...docSigned, mode: 'signed' as const };
    const body = encodeAwsChunked(data, { mode: 'signed', chunkSizeBytes: 1000, signingKey: docKey, seedSignature: docSigned.seedSignature! });
    const text = body.toString('latin1');
    const frames = text.split(/(?<=\n)(?=[0-9a-f]+;chunk-signature=)/);
    assert.equal(frames.length, 4);
    const swapped = [frames[1], frames[0], ...frames.slice(2)].join('');
    await rejects(Buffer.from(swapped, 'latin1'), options, 'SignatureDoesNotMatch');
    await rejects(Buffer.from(text.replace(/;chunk-signature=[0-9a-f]+/, ''), 'latin1'), options, 'SignatureDoesNotMatch');
    assert.ok((await decode(body, options)).data.equals(data));
  });

  it('dropping the final chunk is truncation', async () => {
    const body = docSignedBody();
    await rejects(body.subarray(0, body.length - 86), docSigned, 'IncompleteBody');
  });

  it('enforces chunkSizeMaxBytes before buffering', async () => {
    const { error, released } = await decodeFailing(docSignedBody(), { ...docSigned, chunkSizeMaxBytes: 65535 });
    assert.equal(error.code, 'InvalidChunkSizeError');
    assert.equal(released.length, 0);
  });

  it('a trailer is refused without a -TRAILER mode', async () => {
    const body = Buffer.from(docSignedBody().toString('latin1').replace(/\r\n\r\n$/, '\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'), 'latin1');
    await rejects(body, docSigned, 'InvalidRequest');
  });
});

describe('aws-chunked: unsigned payload with trailer', () => {
  const data = Buffer.from('hello world, this is an aws-chunked body with a trailing checksum');
  const crc32 = checksumOf('CRC32', data);
  const options: AwsChunkedOptions = { mode: 'unsigned-trailer', declaredTrailer: 'x-amz-checksum-crc32', decodedLengthBytes: data.length };

  it('verifies and returns the CRC32 trailer', async () => {
    const body = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', crc32]] });
    const { data: decoded, result } = await decode(body, options);
    assert.ok(decoded.equals(data));
    assert.deepEqual(result.checksum, { algorithm: 'CRC32', base64: crc32 });
    assert.deepEqual(result.trailers, { 'x-amz-checksum-crc32': crc32 });
  });

  it('a bad CRC32 is BadDigest; a malformed one is InvalidRequest', async () => {
    const bad = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', 'AAAAAA==']] });
    await rejects(bad, options, 'BadDigest');
    const malformed = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', 'AAAAAAAA']] });
    await rejects(malformed, options, 'InvalidRequest');
  });

  it('a changed data byte is BadDigest', async () => {
    const body = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', crc32]] });
    body[5] = body[5]! ^ 1;
    await rejects(body, options, 'BadDigest');
  });

  it('every checksum algorithm', async () => {
    for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
      const name = checksumHeaderName(algorithm);
      const body = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 7, trailers: [[name, checksumOf(algorithm, data)]] });
      const { result } = await decode(body, { mode: 'unsigned-trailer', declaredTrailer: name.toUpperCase() });
      assert.deepEqual(result.checksum, { algorithm, base64: checksumOf(algorithm, data) });
    }
  });

  it('unsigned chunks stream through whatever their size', async () => {
    const big = Buffer.alloc(100_000, 'q');
    const body = encodeAwsChunked(big, { mode: 'unsigned-trailer', chunkSizeBytes: big.length });
    const { data: decoded } = await decode(body, { mode: 'unsigned-trailer', chunkSizeMaxBytes: 1024 }, [50, 60_000]);
    assert.ok(decoded.equals(big));
    await rejects(Buffer.from('ffffffffffffffff\r\n'), { mode: 'unsigned-trailer' }, 'InvalidChunkSizeError');
  });

  it('accepts the JS SDK shape with no trailer: "0\\r\\n" then end of body', async () => {
    const body = Buffer.from(`5\r\nhello\r\n3\r\nabc\r\n0\r\n`);
    const { data: decoded, result } = await decode(body, { mode: 'unsigned-trailer' });
    assert.equal(decoded.toString(), 'helloabc');
    assert.deepEqual(result, { trailers: {}, decodedLengthBytes: 8 });
  });

  it('refuses undeclared, missing and repeated trailers', async () => {
    const withTrailer = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', crc32]] });
    await rejects(withTrailer, { mode: 'unsigned-trailer' }, 'InvalidRequest');
    const without = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10 });
    await rejects(without, options, 'InvalidRequest');
    const twice = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10, trailers: [['x-amz-checksum-crc32', crc32], ['x-amz-checksum-crc32', crc32]] });
    await rejects(twice, options, 'InvalidRequest');
    assert.throws(() => decodeAwsChunked(pieces(without), { mode: 'unsigned-trailer', declaredTrailer: 'x-amz-checksum-crc32,x-amz-checksum-sha256' }), S3Error);
  });

  it('checks x-amz-decoded-content-length both ways', async () => {
    const body = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 10 });
    await rejects(body, { mode: 'unsigned-trailer', decodedLengthBytes: data.length + 1 }, 'IncompleteBody');
    const { error, released } = await decodeFailing(body, { mode: 'unsigned-trailer', decodedLengthBytes: 25 });
    assert.equal(error.code, 'IncompleteBody');
    assert.ok(released.length <= 25);
  });

  it('rejects malformed framing', async () => {
    const cases: [string, S3ErrorCode][] = [
      ['zz\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
      ['5\r\nhelloX\r\n0\r\n\r\n', 'InvalidRequest'],
      ['5\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
      ['5\r\nhello\r\n0\r\n\r\nextra', 'InvalidRequest'],
      ['\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
      ['5\r\nhel', 'IncompleteBody'],
      ['5\r\nhello\r', 'IncompleteBody'],
      ['5\r\nhello\r\n0', 'IncompleteBody'],
      ['', 'IncompleteBody'],
      [`${'1'.repeat(5000)}\r\n`, 'InvalidRequest'],
    ];
    for (const [text, code] of cases) await rejects(Buffer.from(text), { mode: 'unsigned-trailer' }, code);
  });

  it('truncation anywhere never yields a short body as success', async () => {
    const body = encodeAwsChunked(data, { mode: 'unsigned-trailer', chunkSizeBytes: 9, trailers: [['x-amz-checksum-crc32', crc32]] });
    for (let cut = 0; cut < body.length; cut++) {
      const decoding = decodeAwsChunked(pieces(body.subarray(0, cut)), { mode: 'unsigned-trailer', declaredTrailer: 'x-amz-checksum-crc32' });
      const out: Uint8Array[] = [];
      try {
        for await (const piece of decoding.data) out.push(piece);
      } catch (error) {
        assert.ok(error instanceof S3Error);
        assert.ok(error.code === 'IncompleteBody' || error.code === 'InvalidRequest', `${cut}: ${error.code}`);
        continue;
      }
      // Only the final CRLF may be missing: everything, checksum included, arrived.
      assert.ok(cut >= body.length - 2, `cut at ${cut} of ${body.length} decoded without error`);
      assert.ok(Buffer.concat(out).equals(data));
      assert.equal(decoding.result().checksum?.base64, crc32);
    }
  });
});

describe('aws-chunked: any split of the body decodes the same', () => {
  it('property: all modes, random data, chunk sizes and split points', async () => {
    const seedSignature = docSigned.seedSignature!;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<AwsChunkedMode>('signed', 'signed-trailer', 'unsigned-trailer'),
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom<ChecksumAlgorithm>('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'),
        async (mode, data, chunkSizeBytes, cuts, algorithm) => {
          const name = checksumHeaderName(algorithm);
          const trailers = mode === 'signed' ? [] : [[name, checksumOf(algorithm, data)] as const];
          const body = encodeAwsChunked(data, { mode, chunkSizeBytes, signingKey: docKey, seedSignature, trailers });
          const options: AwsChunkedOptions = {
            mode,
            decodedLengthBytes: data.length,
            ...(mode === 'unsigned-trailer' ? {} : { signingKey: docKey, seedSignature, amzDate: docAmzDate, scope: docScope }),
            ...(mode === 'signed' ? {} : { declaredTrailer: name }),
          };
          const whole = await decode(body, options);
          const split = await decode(body, options, cuts);
          assert.ok(whole.data.equals(Buffer.from(data)));
          assert.ok(split.data.equals(Buffer.from(data)));
          assert.deepEqual(split.result, whole.result);
          if (mode !== 'signed') assert.equal(split.result.checksum?.base64, checksumOf(algorithm, data));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('byte-at-a-time delivery of the documented signed body', async () => {
    const body = docSignedBody();
    const cuts = Array.from({ length: body.length }, (_, index) => index);
    const { data } = await decode(body, docSigned, cuts);
    assert.equal(data.length, 66560);
  });
});

describe('aws-chunked: wiring from authenticate()', () => {
  const credentials = { accessKeyId: 'AKIDTESSERA', secretAccessKey: 'chunky secret' };
  const signingDate = new Date('2024-03-01T12:00:00Z');

  async function signedStreamingRequest(contentSha256: string, headers: Record<string, string>): Promise<S3Request> {
    const signer = new SignatureV4({ credentials, region: 'eu-west-1', service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
    const request = new HttpRequest({
      method: 'PUT',
      protocol: 'http:',
      hostname: 'localhost',
      path: '/bucket/streamed',
      headers: { host: 'localhost', 'content-encoding': 'aws-chunked', 'x-amz-content-sha256': contentSha256, ...headers },
    });
    const result = await signer.sign(request, { signingDate });
    async function* noBody(): AsyncGenerator<Uint8Array> {}
    return { method: 'PUT', rawUrl: result.path, headers: result.headers, body: noBody(), remoteAddress: '127.0.0.1' };
  }

  it('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER end to end', async () => {
    const data = Buffer.alloc(100_000, 'z');
    const crc = checksumOf('CRC64NVME', data);
    const request = await signedStreamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', {
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': 'x-amz-checksum-crc64nvme',
    });
    const auth = authenticate(request, (id) => (id === credentials.accessKeyId ? credentials : undefined), signingDate.getTime()) as AuthenticatedResult;
    const options = awsChunkedOptionsFor(auth, request.headers);
    assert.ok(options !== undefined);
    assert.equal(options.mode, 'signed-trailer');
    assert.equal(options.decodedLengthBytes, data.length);
    // The encoder signs with the doc scope/date constants; re-sign with this request's.
    const key = deriveSigningKey(credentials.secretAccessKey, '20240301', 'eu-west-1');
    assert.ok(key.equals(auth.signingKey));
    const body = encodeWithScope(data, key, auth.seedSignature, auth.amzDate, auth.scope, [['x-amz-checksum-crc64nvme', crc]]);
    const { data: decoded, result } = await decode(body, options, [1, 5000, 65600]);
    assert.ok(decoded.equals(data));
    assert.deepEqual(result.checksum, { algorithm: 'CRC64NVME', base64: crc });
  });

  it('non-streaming payloads need no decoder; bad x-amz-decoded-content-length is InvalidArgument', async () => {
    const lookup = (): typeof credentials => credentials;
    const plain = await signedStreamingRequest(emptySha256Hex, {});
    assert.equal(awsChunkedOptionsFor(authenticate(plain, lookup, signingDate.getTime()), plain.headers), undefined);
    const bad = await signedStreamingRequest('STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'x-amz-decoded-content-length': '-1' });
    assert.throws(() => awsChunkedOptionsFor(authenticate(bad, lookup, signingDate.getTime()), bad.headers), S3Error);
  });

  it('result() before the data is consumed is a bug', () => {
    const decoding = decodeAwsChunked(pieces(Buffer.from('0\r\n\r\n')), { mode: 'unsigned-trailer' });
    assert.throws(() => decoding.result(), /before the data was fully consumed/);
  });
});

function encodeWithScope(
  data: Uint8Array,
  key: Buffer,
  seedSignature: string,
  amzDate: string,
  scope: string,
  trailers: readonly (readonly [string, string])[],
): Buffer {
  const parts: Buffer[] = [];
  let previous = seedSignature;
  const sign = (chunk: Uint8Array): string => {
    previous = hmacHex(key, ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, emptySha256Hex, sha256Hex(chunk)].join('\n'));
    return previous;
  };
  for (let offset = 0; offset < data.length; offset += 65536) {
    const chunk = data.subarray(offset, offset + 65536);
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${sign(chunk)}\r\n`), Buffer.from(chunk), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0;chunk-signature=${sign(new Uint8Array(0))}\r\n`));
  const lines = trailers.map(([name, value]) => `${name}:${value}`);
  for (const line of lines) parts.push(Buffer.from(`${line}\r\n`));
  const trailerSignature = hmacHex(key, ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previous, sha256Hex(lines.map((line) => `${line}\n`).join(''))].join('\n'));
  parts.push(Buffer.from(`x-amz-trailer-signature:${trailerSignature}\r\n\r\n`));
  return Buffer.concat(parts);
}
