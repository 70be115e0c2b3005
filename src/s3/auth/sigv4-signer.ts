// Signs outgoing requests with SigV4 (header auth, UNSIGNED-PAYLOAD): what the
// `tessera admin` CLI and other internal clients use to talk to an S3 endpoint
// without pulling in an SDK. The verifier in sigv4.ts checks exactly this.

import { awsUriEncode, deriveSigningKey, formatAmzDate, hmacSha256Hex, sha256Hex } from './sigv4.js';

export interface SignInput {
  readonly method: string;
  /** Path as it will be sent (already percent-encoded). */
  readonly path: string;
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly host: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly nowMs: number;
}

/** Headers to send (host, x-amz-date, x-amz-content-sha256, authorization) and the query string. */
export function signRequest(input: SignInput): { headers: Record<string, string>; queryString: string } {
  const amzDate = formatAmzDate(input.nowMs);
  const date = amzDate.slice(0, 8);
  const encode = (text: string): string => awsUriEncode(Buffer.from(text, 'utf8'), false);
  const queryString = input.query
    .map(([name, value]) => [encode(name), encode(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headers: Record<string, string> = { host: input.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate };
  const signedHeaders = Object.keys(headers).sort().join(';');
  const canonicalHeaders = Object.keys(headers)
    .sort()
    .map((name) => `${name}:${headers[name]!.trim()}\n`)
    .join('');
  const canonicalRequest = [input.method, input.path, queryString, canonicalHeaders, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${date}/${input.region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = hmacSha256Hex(deriveSigningKey(input.secretAccessKey, date, input.region), stringToSign);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers, queryString };
}
