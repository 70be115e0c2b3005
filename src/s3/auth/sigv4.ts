// AWS Signature Version 4 verification for S3: header auth (Authorization:
// AWS4-HMAC-SHA256 ...) and presigned query auth (X-Amz-Signature=...).
//
// Shape: one pure function, `authenticate(request, lookup, nowMs)`, that reads
// only the method, the raw request target and the headers; the body is never
// touched here. What the body must then satisfy is returned as a PayloadMode
// (a sha256 to check while streaming, or an aws-chunked framing to decode with
// the signing key and seed signature returned alongside). Time is a parameter.
//
// S3 specifics (they differ from other AWS services): the canonical URI is the
// path exactly as sent, not normalized and not encoded again; as a fallback for
// clients that send a character raw but sign it encoded (or the reverse), the
// path re-encoded per AWS rules is tried second. The query is decoded with '+'
// meaning space (form encoding, as S3 does) and re-encoded per AWS rules.
//
// Errors: unknown key → InvalidAccessKeyId; wrong signature (or x-amz-* header
// not signed) → SignatureDoesNotMatch / AccessDenied; non-SigV4 schemes →
// InvalidArgument "Unsupported Authorization Type"; bad header fields →
// AuthorizationHeaderMalformed; bad query fields → AuthorizationQueryParametersError;
// skew → RequestTimeTooSkewed; presigned expired / not yet valid → AccessDenied;
// missing x-amz-content-sha256 → InvalidRequest; unknown value → InvalidArgument.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { assert } from '../../stdx/assert.js';
import { S3Error } from '../errors.js';
import type { HeaderMap, S3Request } from '../http.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type CredentialsLookup = (accessKeyId: string) => Credentials | undefined;

export interface ParsedRequestTarget {
  /** Raw path, still percent-encoded, always starting with '/'. */
  path: string;
  /** Decoded key/value pairs in order ('+' decodes to a space; `?uploads` gives ['uploads', '']). */
  query: ReadonlyArray<readonly [string, string]>;
  /** Everything after the first '?', as sent ('' when there is none). */
  rawQuery: string;
}

export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; hex: string }
  | { kind: 'streaming-signed' }
  | { kind: 'streaming-signed-trailer' }
  | { kind: 'streaming-unsigned-trailer' };

export interface AuthenticatedResult {
  anonymous: false;
  accessKeyId: string;
  /** HMAC key for this date/region/s3; aws-chunked chunk signatures use it. */
  signingKey: Buffer;
  /** The request's own signature: the "previous signature" of the first chunk. */
  seedSignature: string;
  /** ISO 8601 basic timestamp used in the string to sign, e.g. 20130524T000000Z. */
  amzDate: string;
  /** Credential scope, e.g. 20130524/us-east-1/s3/aws4_request. */
  scope: string;
  region: string;
  presigned: boolean;
  payload: PayloadMode;
}

export interface AnonymousResult {
  anonymous: true;
  payload: PayloadMode;
}

export type AuthResult = AuthenticatedResult | AnonymousResult;

export interface AuthenticateOptions {
  /** When set, a credential scope naming another region is rejected (AuthorizationHeaderMalformed). */
  region?: string;
  /** Allowed distance between the request time and nowMs; AWS uses 15 minutes. */
  clockSkewMsMax?: number;
}

export const sigv4Algorithm = 'AWS4-HMAC-SHA256';
export const clockSkewMsMaxDefault = 15 * 60 * 1000;
export const presignedExpiresSecondsMax = 7 * 24 * 60 * 60;
export const emptySha256Hex = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const streamingSigned = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
const streamingSignedTrailer = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
const streamingUnsignedTrailer = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const unsignedPayload = 'UNSIGNED-PAYLOAD';
const contentSha256Header = 'x-amz-content-sha256';
const presignedParameters = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Signature',
  'X-Amz-Date',
  'X-Amz-SignedHeaders',
  'X-Amz-Expires',
] as const;

/**
 * Checks a request's SigV4 signature (header or presigned) against the secret
 * from `lookup`. Returns anonymous when the request carries no signature at
 * all; the caller decides whether anonymous access is allowed. Throws S3Error.
 */
export function authenticate(
  request: S3Request,
  lookup: CredentialsLookup,
  nowMs: number,
  options: AuthenticateOptions = {},
): AuthResult {
  const target = splitRequestTarget(request.rawUrl);
  const authorization = request.headers.authorization;
  const queryKeys = new Set(target.pieces.map((piece) => piece.key));
  const presigned =
    queryKeys.has('X-Amz-Signature') || queryKeys.has('X-Amz-Algorithm') || queryKeys.has('X-Amz-Credential');
  if (authorization !== undefined && presigned) {
    throw new S3Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      { ArgumentName: 'Authorization', ArgumentValue: authorization },
    );
  }
  if (authorization !== undefined) {
    return authenticateHeader(request, target, authorization, lookup, nowMs, options);
  }
  if (presigned) return authenticatePresigned(request, target, lookup, nowMs, options);
  if (queryKeys.has('AWSAccessKeyId') && queryKeys.has('Signature')) {
    throw new S3Error('InvalidArgument', 'Unsupported Authorization Type: signature version 2 is not supported', {
      ArgumentName: 'Signature',
    });
  }
  const contentSha256 = request.headers[contentSha256Header];
  const payload: PayloadMode =
    contentSha256 === undefined ? { kind: 'unsigned' } : parsePayloadMode(contentSha256);
  if (payload.kind === 'streaming-signed' || payload.kind === 'streaming-signed-trailer') {
    throw new S3Error('InvalidRequest', `x-amz-content-sha256 "${contentSha256}" needs a signed request`);
  }
  return { anonymous: true, payload };
}

// ---------------------------------------------------------------------------
// Header auth.

export interface AuthorizationFields {
  credential: string;
  signedHeaders: string;
  signature: string;
}

function authenticateHeader(
  request: S3Request,
  target: RequestTarget,
  authorization: string,
  lookup: CredentialsLookup,
  nowMs: number,
  options: AuthenticateOptions,
): AuthenticatedResult {
  const fields = parseAuthorizationHeader(authorization);
  const contentSha256 = request.headers[contentSha256Header];
  if (contentSha256 === undefined) {
    throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  const payload = parsePayloadMode(contentSha256);
  const time = headerRequestTime(request.headers, nowMs, options.clockSkewMsMax ?? clockSkewMsMaxDefault);
  const scope = parseCredential(fields.credential, time.amzDate, options.region, 'header');
  const signedHeaders = parseSignedHeaders(fields.signedHeaders, 'header');
  return verify(request, target, lookup, {
    scope,
    signedHeaders,
    signature: fields.signature,
    amzDate: time.amzDate,
    payloadHash: contentSha256,
    payload,
    presigned: false,
  });
}

/** `AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=a;b, Signature=hex` (spaces after commas optional). */
export function parseAuthorizationHeader(authorization: string): AuthorizationFields {
  const space = authorization.indexOf(' ');
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm !== sigv4Algorithm) {
    throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', {
      ArgumentName: 'Authorization',
      ArgumentValue: authorization,
    });
  }
  const values = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(',')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const equals = trimmed.indexOf('=');
    const key = equals < 0 ? trimmed : trimmed.slice(0, equals).trim();
    if (equals < 0 || values.has(key)) {
      throw malformedHeader(`the authorization component "${trimmed}" is malformed.`);
    }
    values.set(key, trimmed.slice(equals + 1).trim());
  }
  const credential = values.get('Credential');
  const signedHeaders = values.get('SignedHeaders');
  const signature = values.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformedHeader('it must contain Credential, SignedHeaders and Signature.');
  }
  return { credential, signedHeaders, signature };
}

interface RequestTime {
  amzDate: string;
  ms: number;
}

function headerRequestTime(headers: HeaderMap, nowMs: number, clockSkewMsMax: number): RequestTime {
  const amzDateHeader = headers['x-amz-date'];
  const dateHeader = headers.date;
  let time: RequestTime | undefined;
  if (amzDateHeader !== undefined) {
    const ms = parseAmzDate(amzDateHeader);
    if (ms !== undefined) time = { amzDate: amzDateHeader, ms };
  } else if (dateHeader !== undefined) {
    const ms = Date.parse(dateHeader);
    if (Number.isFinite(ms)) time = { amzDate: formatAmzDate(ms), ms };
  }
  if (time === undefined) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  if (Math.abs(time.ms - nowMs) > clockSkewMsMax) {
    throw new S3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: amzDateHeader ?? dateHeader ?? '',
      ServerTime: new Date(nowMs).toISOString(),
      MaxAllowedSkewMilliseconds: String(clockSkewMsMax),
    });
  }
  return time;
}

// ---------------------------------------------------------------------------
// Presigned (query) auth.

function authenticatePresigned(
  request: S3Request,
  target: RequestTarget,
  lookup: CredentialsLookup,
  nowMs: number,
  options: AuthenticateOptions,
): AuthenticatedResult {
  const parameters = presignedParameterValues(target);
  if (parameters['X-Amz-Algorithm'] !== sigv4Algorithm) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const amzDate = parameters['X-Amz-Date'];
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === undefined) {
    throw new S3Error(
      'AuthorizationQueryParametersError',
      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
    );
  }
  const expiresSeconds = parseExpires(parameters['X-Amz-Expires']);
  if (dateMs - nowMs > (options.clockSkewMsMax ?? clockSkewMsMaxDefault)) {
    throw new S3Error('AccessDenied', 'Request is not valid yet', {
      'X-Amz-Date': amzDate,
      ServerTime: new Date(nowMs).toISOString(),
    });
  }
  const expiresMs = dateMs + expiresSeconds * 1000;
  if (nowMs > expiresMs) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': String(expiresSeconds),
      Expires: new Date(expiresMs).toISOString(),
      ServerTime: new Date(nowMs).toISOString(),
    });
  }
  const scope = parseCredential(parameters['X-Amz-Credential'], amzDate, options.region, 'query');
  const signedHeaders = parseSignedHeaders(parameters['X-Amz-SignedHeaders'], 'query');
  // Presigned URLs sign UNSIGNED-PAYLOAD unless the signer put a hash in the query.
  const payloadHash =
    target.pieces.find((piece) => piece.key.toLowerCase() === contentSha256Header)?.value ?? unsignedPayload;
  return verify(request, target, lookup, {
    scope,
    signedHeaders,
    signature: parameters['X-Amz-Signature'],
    amzDate,
    payloadHash,
    payload: parsePayloadMode(payloadHash),
    presigned: true,
  });
}

function presignedParameterValues(target: RequestTarget): Record<(typeof presignedParameters)[number], string> {
  const values: Partial<Record<(typeof presignedParameters)[number], string>> = {};
  for (const name of presignedParameters) {
    const matches = target.pieces.filter((piece) => piece.key === name);
    if (matches.length > 1) {
      throw new S3Error('AuthorizationQueryParametersError', `The query parameter ${name} appears more than once.`);
    }
    const value = matches[0]?.value;
    if (value === undefined) {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    values[name] = value;
  }
  return values as Record<(typeof presignedParameters)[number], string>;
}

function parseExpires(value: string): number {
  if (!/^-?\d{1,15}$/.test(value)) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires should be a number');
  }
  const seconds = Number(value);
  // Out-of-range expiries are 403 AccessDenied, as the s3-tests core set
  // (agreed by AWS and RGW) expects, not 400.
  if (seconds < 1) {
    throw new S3Error('AccessDenied', 'X-Amz-Expires must be a positive number of seconds');
  }
  if (seconds > presignedExpiresSecondsMax) {
    throw new S3Error(
      'AccessDenied',
      `X-Amz-Expires must be less than a week (in seconds) that is, the given X-Amz-Expires must be less than ${presignedExpiresSecondsMax} seconds`,
    );
  }
  return seconds;
}

// ---------------------------------------------------------------------------
// Shared by both forms.

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  /** date/region/s3/aws4_request */
  text: string;
}

type AuthForm = 'header' | 'query';

function parseCredential(credential: string, amzDate: string, region: string | undefined, form: AuthForm): Scope {
  const parts = credential.split('/');
  const fail = (detail: string): S3Error =>
    form === 'header'
      ? malformedHeader(detail)
      : new S3Error('AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; ${detail}`);
  if (parts.length < 5) {
    throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  const [date, scopeRegion, service, terminal] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '' || !/^\d{8}$/.test(date) || scopeRegion === '') {
    throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  if (service !== 's3') throw fail(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminal !== 'aws4_request') {
    throw fail(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  }
  if (date !== amzDate.slice(0, 8)) {
    throw fail(`Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  }
  if (region !== undefined && scopeRegion !== region) {
    const error = fail(`the region '${scopeRegion}' is wrong; expecting '${region}'`);
    throw new S3Error(error.code, error.message, { Region: region });
  }
  return { accessKeyId, date, region: scopeRegion, text: `${date}/${scopeRegion}/s3/aws4_request` };
}

function parseSignedHeaders(list: string, form: AuthForm): string[] {
  const names = list.split(';');
  const valid = names.every((name) => /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name));
  if (!valid || !names.includes('host')) {
    const detail = `SignedHeaders "${list}" must be lower-case header names separated by ";" and include host.`;
    throw form === 'header'
      ? malformedHeader(detail)
      : new S3Error('AuthorizationQueryParametersError', `Error parsing X-Amz-SignedHeaders; ${detail}`);
  }
  return names;
}

interface Claim {
  scope: Scope;
  signedHeaders: readonly string[];
  signature: string;
  amzDate: string;
  /** The payload hash exactly as it goes into the canonical request. */
  payloadHash: string;
  payload: PayloadMode;
  presigned: boolean;
}

function verify(
  request: S3Request,
  target: RequestTarget,
  lookup: CredentialsLookup,
  claim: Claim,
): AuthenticatedResult {
  const credentials = lookup(claim.scope.accessKeyId);
  if (credentials === undefined) {
    throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: claim.scope.accessKeyId });
  }
  rejectUnsignedAmzHeaders(request.headers, claim.signedHeaders);
  const signingKey = deriveSigningKey(credentials.secretAccessKey, claim.scope.date, claim.scope.region);
  const canonicalQuery = canonicalQueryString(target.pieces, claim.presigned);
  const canonicalHeaders = claim.signedHeaders
    .map((name) => `${name}:${canonicalHeaderValue(headerValue(request.headers, name) ?? '')}\n`)
    .join('');
  const canonicalRequestFor = (uri: string): string =>
    [request.method, uri, canonicalQuery, canonicalHeaders, claim.signedHeaders.join(';'), claim.payloadHash].join(
      '\n',
    );
  const stringToSignFor = (canonicalRequest: string): string =>
    [sigv4Algorithm, claim.amzDate, claim.scope.text, sha256Hex(canonicalRequest)].join('\n');

  const candidates = [target.path];
  const reencoded = awsUriEncode(percentDecode(target.path, false), true);
  if (reencoded !== target.path) candidates.push(reencoded);
  for (const uri of candidates) {
    const expected = hmacSha256Hex(signingKey, stringToSignFor(canonicalRequestFor(uri)));
    if (signaturesEqual(expected, claim.signature)) {
      return {
        anonymous: false,
        accessKeyId: claim.scope.accessKeyId,
        signingKey,
        seedSignature: expected,
        amzDate: claim.amzDate,
        scope: claim.scope.text,
        region: claim.scope.region,
        presigned: claim.presigned,
        payload: claim.payload,
      };
    }
  }
  const canonicalRequest = canonicalRequestFor(target.path);
  throw new S3Error('SignatureDoesNotMatch', undefined, {
    AWSAccessKeyId: claim.scope.accessKeyId,
    StringToSign: stringToSignFor(canonicalRequest),
    SignatureProvided: claim.signature,
    CanonicalRequest: canonicalRequest,
  });
}

function headerValue(headers: HeaderMap, name: string): string | undefined {
  return Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** AWS refuses x-amz-* headers that the signature does not cover: they could change what the request does. */
function rejectUnsignedAmzHeaders(headers: HeaderMap, signedHeaders: readonly string[]): void {
  const signed = new Set(signedHeaders);
  const unsigned = Object.keys(headers).filter(
    (name) =>
      name.startsWith('x-amz-') && name !== contentSha256Header && headers[name] !== undefined && !signed.has(name),
  );
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', '),
    });
  }
}

/** Parses an x-amz-content-sha256 value; anything else is InvalidArgument, as AWS answers. */
export function parsePayloadMode(value: string): PayloadMode {
  switch (value) {
    case unsignedPayload:
      return { kind: 'unsigned' };
    case streamingSigned:
      return { kind: 'streaming-signed' };
    case streamingSignedTrailer:
      return { kind: 'streaming-signed-trailer' };
    case streamingUnsignedTrailer:
      return { kind: 'streaming-unsigned-trailer' };
  }
  if (/^[0-9a-fA-F]{64}$/.test(value)) return { kind: 'sha256', hex: value.toLowerCase() };
  throw new S3Error(
    'InvalidArgument',
    `x-amz-content-sha256 must be ${unsignedPayload}, ${streamingSigned}, ${streamingSignedTrailer}, ${streamingUnsignedTrailer} or a valid sha256 value.`,
    { ArgumentName: contentSha256Header, ArgumentValue: value },
  );
}

function malformedHeader(detail: string): S3Error {
  return new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${detail}`);
}

function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'latin1');
  const provided = Buffer.from(providedHex, 'latin1');
  return expected.length === provided.length && timingSafeEqual(expected, provided);
}

// ---------------------------------------------------------------------------
// Crypto helpers (also used by aws-chunked.ts).

/** Derived signing keys kept (LRU): one per (secret, date, region) seen lately. */
export const signingKeyCacheMax = 64;

// Four HMACs per request (8.5 µs, ~40% of verifying a header-signed request)
// for a key that changes once a day. A memo of a pure function, so it changes
// no outcome, deterministic or not: module state is fine here. Keyed by the
// secret itself: it is in memory anyway (the credentials lookup holds it).
const signingKeyCache = new Map<string, Buffer>();

/**
 * The SigV4 signing key for date (YYYYMMDD) and region, from a cache when it
 * was derived lately. The caller gets its own copy, so nothing it does to the
 * Buffer can reach the cache.
 */
export function deriveSigningKey(secretAccessKey: string, date: string, region: string): Buffer {
  // Lengths first: no (date, region, secret) triple can spell another's key.
  const cacheKey = `${date.length}:${region.length}:${date}${region}${secretAccessKey}`;
  let signingKey = signingKeyCache.get(cacheKey);
  if (signingKey === undefined) {
    signingKey = deriveSigningKeyUncached(secretAccessKey, date, region);
    if (signingKeyCache.size >= signingKeyCacheMax) {
      const oldest = signingKeyCache.keys().next();
      if (oldest.done !== true) signingKeyCache.delete(oldest.value);
    }
  } else {
    signingKeyCache.delete(cacheKey); // re-inserted below: Map order is recency order
  }
  signingKeyCache.set(cacheKey, signingKey);
  assert(signingKeyCache.size <= signingKeyCacheMax, `signing key cache holds ${signingKeyCache.size} keys`);
  return Buffer.from(signingKey);
}

/** Keys the cache holds now (tests). */
export function signingKeyCacheSize(): number {
  return signingKeyCache.size;
}

function deriveSigningKeyUncached(secretAccessKey: string, date: string, region: string): Buffer {
  const dateKey = hmacSha256(Buffer.from(`AWS4${secretAccessKey}`, 'utf8'), date);
  const regionKey = hmacSha256(dateKey, region);
  const serviceKey = hmacSha256(regionKey, 's3');
  return hmacSha256(serviceKey, 'aws4_request');
}

function hmacSha256(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function hmacSha256Hex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Verifies a body against the hex sha256 of x-amz-content-sha256 as it streams. */
export function createPayloadHashVerifier(expectedHex: string): { update(chunk: Uint8Array): void; finish(): void } {
  const hash = createHash('sha256');
  return {
    update(chunk: Uint8Array): void {
      hash.update(chunk);
    },
    finish(): void {
      const computed = hash.digest('hex');
      if (computed !== expectedHex.toLowerCase()) {
        throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
          ClientComputedContentSHA256: expectedHex,
          S3ComputedContentSHA256: computed,
        });
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Dates.

/** `20130524T000000Z` → epoch ms, or undefined when malformed or not a real date. */
export function parseAmzDate(value: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return undefined;
  const ms = Date.UTC(
    Number(match[1]),
    Number(match[2]) - 1,
    Number(match[3]),
    Number(match[4]),
    Number(match[5]),
    Number(match[6]),
  );
  return formatAmzDate(ms) === value ? ms : undefined;
}

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// ---------------------------------------------------------------------------
// Request target and encoding.

interface QueryPiece {
  /** Decoded bytes of the key and value (what the canonical form re-encodes). */
  keyBytes: Buffer;
  valueBytes: Buffer;
  key: string;
  value: string;
}

interface RequestTarget {
  path: string;
  rawQuery: string;
  pieces: QueryPiece[];
}

function splitRequestTarget(rawUrl: string): RequestTarget {
  let target = rawUrl;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?]*/.exec(target);
  if (scheme !== null) target = target.slice(scheme[0].length);
  const question = target.indexOf('?');
  let path = question < 0 ? target : target.slice(0, question);
  if (!path.startsWith('/')) path = `/${path}`;
  const rawQuery = question < 0 ? '' : target.slice(question + 1);
  const pieces: QueryPiece[] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const keyBytes = percentDecode(equals < 0 ? part : part.slice(0, equals), true);
    const valueBytes = percentDecode(equals < 0 ? '' : part.slice(equals + 1), true);
    pieces.push({ keyBytes, valueBytes, key: keyBytes.toString('utf8'), value: valueBytes.toString('utf8') });
  }
  return { path, rawQuery, pieces };
}

export function parseRequestTarget(rawUrl: string): ParsedRequestTarget {
  const target = splitRequestTarget(rawUrl);
  return {
    path: target.path,
    query: target.pieces.map((piece) => [piece.key, piece.value] as const),
    rawQuery: target.rawQuery,
  };
}

function canonicalQueryString(pieces: readonly QueryPiece[], presigned: boolean): string {
  const pairs: [string, string][] = [];
  for (const piece of pieces) {
    if (presigned && piece.key === 'X-Amz-Signature') continue;
    pairs.push([awsUriEncode(piece.keyBytes, false), awsUriEncode(piece.valueBytes, false)]);
  }
  pairs.sort(([keyA, valueA], [keyB, valueB]) => compareAscii(keyA, keyB) || compareAscii(valueA, valueB));
  return pairs.map(([key, value]) => `${key}=${value}`).join('&');
}

function compareAscii(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Trims, and collapses runs of spaces and tabs to one space. */
export function canonicalHeaderValue(value: string): string {
  return value.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

/**
 * Decodes %XX escapes to bytes; malformed escapes stay literal. With
 * `plusIsSpace` (query strings), '+' is a space.
 */
export function percentDecode(raw: string, plusIsSpace: boolean): Buffer {
  const bytes = Buffer.from(raw, 'utf8');
  if (!raw.includes('%') && !(plusIsSpace && raw.includes('+'))) return bytes;
  let write = 0;
  for (let read = 0; read < bytes.length; read++) {
    const byte = bytes[read]!;
    const high = read + 2 < bytes.length ? hexValue(bytes[read + 1]!) : -1;
    const low = high >= 0 ? hexValue(bytes[read + 2]!) : -1;
    if (byte === 0x25 && low >= 0) {
      bytes[write++] = high * 16 + low;
      read += 2;
    } else {
      bytes[write++] = plusIsSpace && byte === 0x2b ? 0x20 : byte;
    }
  }
  return bytes.subarray(0, write);
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}

const upperHex = '0123456789ABCDEF';

/** AWS URI encoding: A-Z a-z 0-9 - . _ ~ kept (and '/' when `keepSlash`), every other byte %XX. */
export function awsUriEncode(bytes: Uint8Array, keepSlash: boolean): string {
  let out = '';
  for (const byte of bytes) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x2e ||
      byte === 0x5f ||
      byte === 0x7e ||
      (keepSlash && byte === 0x2f);
    out += unreserved ? String.fromCharCode(byte) : `%${upperHex[byte >> 4]!}${upperHex[byte & 15]!}`;
  }
  return out;
}
