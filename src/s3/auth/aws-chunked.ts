// Decoder for `aws-chunked` request bodies, the framing S3 clients use when
// x-amz-content-sha256 is STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or
// STREAMING-UNSIGNED-PAYLOAD-TRAILER:
//
//   <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//   [<trailer name>:<value>\r\n ...][x-amz-trailer-signature:<sig>\r\n]\r\n
//
// Shape: `AwsChunkedParser` is a synchronous push parser with no I/O (bytes in,
// decoded pieces out), so any split of the body across network reads gives the
// same result; `decodeAwsChunked` wraps it around the request body stream.
// In signed modes a chunk's bytes are held (at most chunkSizeMaxBytes) until its
// signature checks out; in unsigned-trailer mode bytes pass straight through.
// The trailing checksum can only be checked at the end, so the caller must not
// make the object visible until `data` has been consumed without an error.
//
// Errors: truncation and a length other than x-amz-decoded-content-length →
// IncompleteBody; malformed framing → InvalidRequest; a chunk over the size
// limit → InvalidChunkSizeError; a bad, missing or malformed chunk or trailer
// signature → SignatureDoesNotMatch; trailer checksum mismatch → BadDigest.

import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { assert } from '../../stdx/assert.js';
import { S3Error } from '../errors.js';
import type { HeaderMap } from '../http.js';
import {
  checksumDigestBytes,
  checksumHeaderName,
  createChecksum,
  parseChecksumAlgorithm,
  type ChecksumAccumulator,
  type ChecksumAlgorithm,
} from '../checksums.js';
import { emptySha256Hex, hmacSha256Hex, sha256Hex, type AuthResult } from './sigv4.js';

export type AwsChunkedMode = 'signed' | 'signed-trailer' | 'unsigned-trailer';

export interface AwsChunkedOptions {
  mode: AwsChunkedMode;
  /** Signed modes: from AuthResult. */
  signingKey?: Buffer;
  seedSignature?: string;
  amzDate?: string;
  scope?: string;
  /** x-amz-decoded-content-length, when sent: the decoded body must have exactly this many bytes. */
  decodedLengthBytes?: number;
  /** The x-amz-trailer header: comma-separated trailer names the body may end with. */
  declaredTrailer?: string;
  /** Signed modes: largest chunk accepted, since each is held in memory until verified; default 16 MiB. */
  chunkSizeMaxBytes?: number;
}

export interface AwsChunkedResult {
  /** Trailers by lower-cased name (x-amz-trailer-signature excluded). */
  trailers: Record<string, string>;
  decodedLengthBytes: number;
  /** The checksum named in x-amz-trailer, computed over the decoded data and matched against the trailer. */
  checksum?: { algorithm: ChecksumAlgorithm; base64: string };
}

export interface AwsChunkedDecoding {
  /** The decoded bytes; iterate once. Throws S3Error on any framing, signature or checksum failure. */
  data: AsyncIterable<Uint8Array>;
  /** Trailers and checksum; valid only after `data` has been iterated to the end without error. */
  result(): AwsChunkedResult;
}

export const chunkSizeMaxBytesDefault = 16 * 1024 * 1024;
export const lineLengthMaxBytes = 4096;
export const trailerCountMax = 16;

const trailerSignatureName = 'x-amz-trailer-signature';

export function decodeAwsChunked(body: AsyncIterable<Uint8Array>, options: AwsChunkedOptions): AwsChunkedDecoding {
  const parser = new AwsChunkedParser(options);
  let result: AwsChunkedResult | undefined;
  async function* decode(): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const input of body) {
      yield* parser.push(input);
    }
    result = parser.end();
  }
  return {
    data: decode(),
    result(): AwsChunkedResult {
      assert(result !== undefined, 'aws-chunked result read before the data was fully consumed');
      return result;
    },
  };
}

/**
 * Options for decodeAwsChunked from the authentication result and headers, or
 * undefined when the payload is not aws-chunked.
 */
export function awsChunkedOptionsFor(auth: AuthResult, headers: HeaderMap): AwsChunkedOptions | undefined {
  const kind = auth.payload.kind;
  const mode: AwsChunkedMode | undefined =
    kind === 'streaming-signed'
      ? 'signed'
      : kind === 'streaming-signed-trailer'
        ? 'signed-trailer'
        : kind === 'streaming-unsigned-trailer'
          ? 'unsigned-trailer'
          : undefined;
  if (mode === undefined) return undefined;
  const options: AwsChunkedOptions = { mode };
  if (!auth.anonymous) {
    options.signingKey = auth.signingKey;
    options.seedSignature = auth.seedSignature;
    options.amzDate = auth.amzDate;
    options.scope = auth.scope;
  }
  const decodedLength = headers['x-amz-decoded-content-length'];
  if (decodedLength !== undefined) {
    if (!/^\d{1,15}$/.test(decodedLength)) {
      throw new S3Error('InvalidArgument', `x-amz-decoded-content-length "${decodedLength}" is not a byte count`, {
        ArgumentName: 'x-amz-decoded-content-length',
        ArgumentValue: decodedLength,
      });
    }
    options.decodedLengthBytes = Number(decodedLength);
  }
  const trailer = headers['x-amz-trailer'];
  if (trailer !== undefined) options.declaredTrailer = trailer;
  return options;
}

type ParserState = 'size-line' | 'data' | 'data-crlf' | 'trailer' | 'done';

interface Signing {
  key: Buffer;
  amzDate: string;
  scope: string;
}

/** The aws-chunked state machine: push() the body as it arrives, then end(). */
export class AwsChunkedParser {
  private readonly mode: AwsChunkedMode;
  private readonly signing: Signing | undefined;
  private readonly chunkSizeMaxBytes: number;
  private readonly decodedLengthBytesExpected: number | undefined;
  private readonly declaredTrailers: ReadonlySet<string>;
  private readonly checksum: { algorithm: ChecksumAlgorithm; accumulator: ChecksumAccumulator } | undefined;

  private state: ParserState = 'size-line';
  private readonly line = Buffer.alloc(lineLengthMaxBytes);
  private lineLength = 0;
  private chunkRemainingBytes = 0;
  private chunkCrlfBytes = 0;
  private chunkSignature = '';
  private chunkHash: Hash | undefined;
  private readonly chunkPieces: Uint8Array[] = [];
  private previousSignature = '';
  private decodedBytes = 0;
  private readonly trailers = new Map<string, string>();
  private readonly trailerLines: string[] = [];
  private trailerSignature: string | undefined;

  constructor(options: AwsChunkedOptions) {
    this.mode = options.mode;
    this.chunkSizeMaxBytes = options.chunkSizeMaxBytes ?? chunkSizeMaxBytesDefault;
    assert(this.chunkSizeMaxBytes > 0, `chunkSizeMaxBytes ${this.chunkSizeMaxBytes} must be positive`);
    this.decodedLengthBytesExpected = options.decodedLengthBytes;
    if (options.mode === 'unsigned-trailer') {
      this.signing = undefined;
    } else {
      const { signingKey, seedSignature, amzDate, scope } = options;
      assert(
        signingKey !== undefined && seedSignature !== undefined && amzDate !== undefined && scope !== undefined,
        `aws-chunked mode ${options.mode} needs signingKey, seedSignature, amzDate and scope`,
      );
      this.signing = { key: signingKey, amzDate, scope };
      this.previousSignature = seedSignature;
    }
    this.declaredTrailers = parseDeclaredTrailers(options.declaredTrailer, options.mode);
    const algorithms = [...this.declaredTrailers].flatMap((name) => parseChecksumAlgorithm(name) ?? []);
    if (algorithms.length > 1) {
      throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- trailer; x-amz-trailer names several');
    }
    const algorithm = algorithms[0];
    this.checksum = algorithm === undefined ? undefined : { algorithm, accumulator: createChecksum(algorithm) };
  }

  /**
   * Feeds the next bytes of the body; returns the decoded bytes that are now
   * safe to release (views into `input`: the caller must not reuse its buffers).
   */
  push(input: Uint8Array): Uint8Array[] {
    const output: Uint8Array[] = [];
    let offset = 0;
    while (offset < input.length) {
      switch (this.state) {
        case 'size-line':
        case 'trailer':
          offset = this.readLine(input, offset);
          break;
        case 'data':
          offset = this.readData(input, offset, output);
          break;
        case 'data-crlf':
          if (input[offset] !== (this.chunkCrlfBytes === 0 ? 0x0d : 0x0a)) {
            throw framingError('chunk data is not followed by CRLF (chunk size larger than declared?)');
          }
          offset++;
          this.chunkCrlfBytes++;
          if (this.chunkCrlfBytes === 2) this.state = 'size-line';
          break;
        case 'done':
          throw framingError(`${input.length - offset} unexpected bytes after the final chunk`);
      }
    }
    return output;
  }

  /** Call at end of body: checks completeness, trailer signature, length and checksum. */
  end(): AwsChunkedResult {
    const atLineBoundary = this.state === 'trailer' && this.lineLength === 0;
    if (this.state !== 'done' && !atLineBoundary) {
      throw new S3Error(
        'IncompleteBody',
        `The aws-chunked body ended early (in ${this.state}, after ${this.decodedBytes} decoded bytes)`,
      );
    }
    if (this.state === 'trailer') this.finishTrailers();
    this.state = 'done';
    if (this.decodedLengthBytesExpected !== undefined && this.decodedBytes !== this.decodedLengthBytesExpected) {
      throw new S3Error(
        'IncompleteBody',
        `The aws-chunked body decoded to ${this.decodedBytes} bytes; x-amz-decoded-content-length is ${this.decodedLengthBytesExpected}`,
      );
    }
    const result: AwsChunkedResult = {
      trailers: Object.fromEntries(this.trailers),
      decodedLengthBytes: this.decodedBytes,
    };
    if (this.checksum !== undefined) {
      result.checksum = this.verifyChecksum(this.checksum.algorithm, this.checksum.accumulator);
    }
    return result;
  }

  private readLine(input: Uint8Array, offset: number): number {
    const newline = input.indexOf(0x0a, offset);
    const end = newline < 0 ? input.length : newline;
    if (this.lineLength + (end - offset) > lineLengthMaxBytes) {
      throw framingError(`a chunk header or trailer line is longer than ${lineLengthMaxBytes} bytes`);
    }
    this.line.set(input.subarray(offset, end), this.lineLength);
    this.lineLength += end - offset;
    if (newline < 0) return input.length;
    if (this.lineLength === 0 || this.line[this.lineLength - 1] !== 0x0d) {
      throw framingError('a chunk header or trailer line does not end with CRLF');
    }
    const text = this.line.toString('latin1', 0, this.lineLength - 1);
    this.lineLength = 0;
    if (this.state === 'size-line') this.onSizeLine(text);
    else this.onTrailerLine(text);
    return newline + 1;
  }

  private onSizeLine(text: string): void {
    const semicolon = text.indexOf(';');
    const sizeText = semicolon < 0 ? text : text.slice(0, semicolon);
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) {
      throw framingError(`chunk size "${sizeText.slice(0, 32)}" is not hexadecimal`);
    }
    const size = parseInt(sizeText, 16);
    // Signed chunks are held until verified, so their size is bounded; unsigned
    // ones stream through (the caller bounds the object size).
    if (!Number.isSafeInteger(size) || (this.signing !== undefined && size > this.chunkSizeMaxBytes)) {
      throw new S3Error('InvalidChunkSizeError', `Chunk size ${size} exceeds the maximum of ${this.chunkSizeMaxBytes} bytes`);
    }
    if (this.decodedLengthBytesExpected !== undefined && this.decodedBytes + size > this.decodedLengthBytesExpected) {
      throw new S3Error(
        'IncompleteBody',
        `The aws-chunked body holds more than x-amz-decoded-content-length (${this.decodedLengthBytesExpected}) bytes`,
      );
    }
    if (this.signing !== undefined) {
      const match = /^chunk-signature=([0-9a-f]{64})$/.exec(semicolon < 0 ? '' : text.slice(semicolon + 1));
      if (match === null) {
        throw new S3Error('SignatureDoesNotMatch', 'A chunk of a signed aws-chunked body has no valid chunk-signature');
      }
      this.chunkSignature = match[1]!;
      this.chunkHash = createHash('sha256');
    }
    if (size === 0) {
      if (this.signing !== undefined) this.verifyChunkSignature(emptySha256Hex);
      this.state = 'trailer';
      return;
    }
    this.chunkRemainingBytes = size;
    this.state = 'data';
  }

  private readData(input: Uint8Array, offset: number, output: Uint8Array[]): number {
    const take = Math.min(this.chunkRemainingBytes, input.length - offset);
    const piece = input.subarray(offset, offset + take);
    this.chunkRemainingBytes -= take;
    this.decodedBytes += take;
    this.checksum?.accumulator.update(piece);
    if (this.chunkHash === undefined) {
      output.push(piece);
    } else {
      this.chunkHash.update(piece);
      this.chunkPieces.push(piece);
    }
    if (this.chunkRemainingBytes === 0) {
      if (this.chunkHash !== undefined) {
        this.verifyChunkSignature(this.chunkHash.digest('hex'));
        output.push(...this.chunkPieces);
        this.chunkPieces.length = 0;
        this.chunkHash = undefined;
      }
      this.chunkCrlfBytes = 0;
      this.state = 'data-crlf';
    }
    return offset + take;
  }

  private verifyChunkSignature(dataSha256Hex: string): void {
    const signing = this.signing!;
    const stringToSign = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      signing.amzDate,
      signing.scope,
      this.previousSignature,
      emptySha256Hex,
      dataSha256Hex,
    ].join('\n');
    const expected = hmacSha256Hex(signing.key, stringToSign);
    if (!hexEqual(expected, this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', undefined, {
        StringToSign: stringToSign,
        SignatureProvided: this.chunkSignature,
      });
    }
    this.previousSignature = expected;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      this.finishTrailers();
      this.state = 'done';
      return;
    }
    if (this.trailerSignature !== undefined) {
      throw framingError('a trailer follows x-amz-trailer-signature');
    }
    const colon = text.indexOf(':');
    const name = (colon < 0 ? '' : text.slice(0, colon)).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === '') throw framingError(`trailer line "${text.slice(0, 64)}" has no name`);
    if (name === trailerSignatureName && this.mode === 'signed-trailer') {
      this.trailerSignature = value;
      return;
    }
    if (!this.declaredTrailers.has(name)) {
      throw new S3Error('InvalidRequest', `The trailer ${name} is not declared in the x-amz-trailer header`);
    }
    if (this.trailers.has(name) || this.trailers.size >= trailerCountMax) {
      throw framingError(`trailer ${name} is repeated or there are more than ${trailerCountMax} trailers`);
    }
    this.trailers.set(name, value);
    this.trailerLines.push(text);
  }

  private finishTrailers(): void {
    for (const name of this.declaredTrailers) {
      if (!this.trailers.has(name)) {
        throw new S3Error('InvalidRequest', `x-amz-trailer declares ${name} but the body has no such trailer`);
      }
    }
    if (this.mode !== 'signed-trailer') return;
    const signing = this.signing!;
    const provided = this.trailerSignature;
    if (provided === undefined) {
      throw new S3Error('SignatureDoesNotMatch', 'The aws-chunked body has no x-amz-trailer-signature');
    }
    const stringToSign = [
      'AWS4-HMAC-SHA256-TRAILER',
      signing.amzDate,
      signing.scope,
      this.previousSignature,
      sha256Hex(Buffer.from(this.trailerLines.map((line) => `${line}\n`).join(''), 'latin1')),
    ].join('\n');
    const expected = hmacSha256Hex(signing.key, stringToSign);
    if (!hexEqual(expected, provided)) {
      throw new S3Error('SignatureDoesNotMatch', undefined, { StringToSign: stringToSign, SignatureProvided: provided });
    }
  }

  private verifyChecksum(
    algorithm: ChecksumAlgorithm,
    checksum: ChecksumAccumulator,
  ): { algorithm: ChecksumAlgorithm; base64: string } {
    const name = checksumHeaderName(algorithm);
    const sent = this.trailers.get(name);
    assert(sent !== undefined, `declared trailer ${name} was checked present`);
    const computed = checksum.digest();
    const sentBytes = Buffer.from(sent, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sent) || sentBytes.length !== checksumDigestBytes[algorithm]) {
      throw new S3Error('InvalidRequest', `Value for ${name} trailing header is invalid.`);
    }
    if (!computed.equals(sentBytes)) {
      throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
    }
    return { algorithm, base64: computed.toString('base64') };
  }
}

function parseDeclaredTrailer(name: string): string {
  return name.trim().toLowerCase();
}

function parseDeclaredTrailers(declared: string | undefined, mode: AwsChunkedMode): ReadonlySet<string> {
  const names = (declared ?? '').split(',').map(parseDeclaredTrailer).filter((name) => name !== '');
  if (names.length > trailerCountMax) {
    throw new S3Error('InvalidRequest', `x-amz-trailer names more than ${trailerCountMax} trailers`);
  }
  if (names.length > 0 && mode === 'signed') {
    throw new S3Error('InvalidRequest', 'x-amz-trailer needs a STREAMING-*-TRAILER x-amz-content-sha256');
  }
  if (names.includes(trailerSignatureName)) {
    throw new S3Error('InvalidRequest', `x-amz-trailer must not name ${trailerSignatureName}`);
  }
  return new Set(names);
}

function framingError(detail: string): S3Error {
  return new S3Error('InvalidRequest', `Malformed aws-chunked body: ${detail}`);
}

function hexEqual(expectedHex: string, providedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'latin1');
  const provided = Buffer.from(providedHex, 'latin1');
  return expected.length === provided.length && timingSafeEqual(expected, provided);
}
