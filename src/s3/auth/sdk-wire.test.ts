// What @aws-sdk/client-s3 actually puts on the wire, verified by sigv4.ts and
// aws-chunked.ts: a throwaway node:http server on 127.0.0.1 records each
// request, the SDK talks to it, and the test authenticates and decodes the
// recording (odd keys, query values, streamed bodies with trailing checksums).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Request } from '../http.js';
import { createChecksum } from '../checksums.js';
import { awsChunkedOptionsFor, decodeAwsChunked } from './aws-chunked.js';
import { authenticate, createPayloadHashVerifier, parseRequestTarget, type AuthResult, type Credentials } from './sigv4.js';

interface Recorded {
  request: S3Request;
  body: Buffer;
}

const credentials: Credentials = { accessKeyId: 'AKIDWIRE', secretAccessKey: 'wire/secret+key' };
const lookup = (id: string): Credentials | undefined => (id === credentials.accessKeyId ? credentials : undefined);
const listXml =
  '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>';
const deleteXml = '<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>';

let server: Server;
let client: S3Client;
const recorded: Recorded[] = [];

async function readAll(message: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of message) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function toS3Request(message: IncomingMessage, body: Buffer): S3Request {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    // Re-deliver in small reads so chunk framing straddles them.
    for (let offset = 0; offset < body.length; offset += 777) {
      await Promise.resolve();
      yield body.subarray(offset, offset + 777);
    }
  }
  return { method: message.method ?? 'GET', rawUrl: message.url ?? '/', headers, body: replay(), remoteAddress: '127.0.0.1' };
}

before(async () => {
  server = createServer((message, response) => {
    void readAll(message).then((body) => {
      recorded.push({ request: toS3Request(message, body), body });
      const { query } = parseRequestTarget(message.url ?? '/');
      const isList = message.method === 'GET' && query.some(([key]) => key === 'list-type');
      const isDelete = message.method === 'POST' && query.some(([key]) => key === 'delete');
      const xml = isList ? listXml : isDelete ? deleteXml : '';
      response.writeHead(200, { etag: '"0"', 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      response.end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 });
});

after(async () => {
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
});

function last(): Recorded {
  const entry = recorded.at(-1);
  assert.ok(entry !== undefined);
  return entry;
}

function auth(entry: Recorded): AuthResult {
  const result = authenticate(entry.request, lookup, Date.now());
  assert.equal(result.anonymous, false);
  return result;
}

async function decodedBody(entry: Recorded, result: AuthResult): Promise<{ data: Buffer; checksum?: string }> {
  const options = awsChunkedOptionsFor(result, entry.request.headers);
  if (options === undefined) {
    if (result.payload.kind === 'sha256') {
      const verifier = createPayloadHashVerifier(result.payload.hex);
      verifier.update(entry.body);
      verifier.finish();
    }
    return { data: entry.body };
  }
  const decoding = decodeAwsChunked(entry.request.body, options);
  const parts: Uint8Array[] = [];
  for await (const part of decoding.data) parts.push(part);
  const checksum = decoding.result().checksum?.base64;
  return checksum === undefined ? { data: Buffer.concat(parts) } : { data: Buffer.concat(parts), checksum };
}

function crc32Base64(data: Uint8Array): string {
  const checksum = createChecksum('CRC32');
  checksum.update(data);
  return checksum.digestBase64();
}

describe('sigv4 + aws-chunked against @aws-sdk/client-s3 on the wire', () => {
  const oddKeys = ['plain.txt', 'a b/c+d%e.txt', 'ünï/日本/😀 (1)!*\'', 'q?x=1&y#z;@$,:'];

  it('PutObject with a string body (payload sha256, CRC32 header)', async () => {
    for (const key of oddKeys) {
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: 'hello world' }));
      const entry = last();
      const result = auth(entry);
      assert.equal(result.payload.kind, 'sha256');
      assert.equal((await decodedBody(entry, result)).data.toString(), 'hello world');
      assert.equal(entry.request.headers['x-amz-checksum-crc32'], crc32Base64(Buffer.from('hello world')));
    }
  });

  it('PutObject with a stream body (aws-chunked, unsigned payload, CRC32 trailer)', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const body = Readable.from([data.subarray(0, 70_000), data.subarray(70_000, 200_000), data.subarray(200_000)]);
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'streamed 😀', Body: body, ContentLength: data.length }));
    const entry = last();
    const result = auth(entry);
    assert.equal(result.payload.kind, 'streaming-unsigned-trailer');
    assert.equal(entry.request.headers['x-amz-trailer'], 'x-amz-checksum-crc32');
    const decoded = await decodedBody(entry, result);
    assert.ok(decoded.data.equals(data));
    assert.equal(decoded.checksum, crc32Base64(data));
  });

  it('ListObjectsV2 with odd prefixes and tokens', async () => {
    for (const prefix of ['a b+c', 'ü/日本/', '%2F=&?', '~-._']) {
      await client.send(new ListObjectsV2Command({ Bucket: 'bucket', Prefix: prefix, Delimiter: '/', ContinuationToken: `${prefix}+==` }));
      const entry = last();
      auth(entry);
      const query = Object.fromEntries(parseRequestTarget(entry.request.rawUrl).query);
      assert.equal(query.prefix, prefix);
    }
  });

  it('GetObject with a range, and DeleteObjects (POST ?delete with a checksum)', async () => {
    await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'a b/😀', Range: 'bytes=0-9' }));
    auth(last());
    await client.send(new DeleteObjectsCommand({ Bucket: 'bucket', Delete: { Objects: [{ Key: 'a' }, { Key: 'b c' }] } }));
    const entry = last();
    const result = auth(entry);
    assert.match((await decodedBody(entry, result)).data.toString(), /<Key>b c<\/Key>/);
  });
});
