// An S3 client for the cluster simulation: builds signed requests (SigV4,
// UNSIGNED-PAYLOAD, as `tessera admin` sends them) and hands them to a
// gateway's S3Api.handle, the same entry point the HTTP server calls, so the
// whole S3 layer runs. Every request has a deadline on the client's clock
// (a crashed gateway never answers); a gateway that is down refuses at once.
// Outcomes are values, never exceptions, except for a bug in the code under
// test (an AssertionError or any non-S3 failure), which propagates.

import type { Clock } from '../../io/clock.js';
import { signRequest } from '../../s3/auth/sigv4-signer.js';
import type { S3Request, S3Response } from '../../s3/http.js';
import type { S3Api } from '../../s3/s3-api.js';
import { AssertionError } from '../../stdx/assert.js';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

export type S3Outcome =
  | { readonly kind: 'response'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: Uint8Array }
  /** No answer within the deadline, the gateway down, or the body broke off mid-stream: retry later. */
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface S3Call {
  readonly method: string;
  /** Percent-encoded path: `/bucket/key`. */
  readonly path: string;
  readonly query?: readonly (readonly [string, string])[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

const host = 's3.sim';
/** Request bodies go to the gateway in chunks of this size (as a socket delivers them). */
const bodyChunkBytes = 64 * 1024;

export class SimS3Client {
  constructor(
    private readonly clock: Clock,
    private readonly credentials: S3Credentials,
    /** The gateway's S3 entry point, or undefined while it is down. */
    private readonly gateway: (index: number) => S3Api | undefined,
    private readonly deadlineMs: number,
    /** Told of a bug (an AssertionError) that surfaced after the deadline, when nobody awaits the exchange any more. */
    private readonly onBug: (error: unknown) => void,
  ) {}

  async call(gatewayIndex: number, call: S3Call): Promise<S3Outcome> {
    const api = this.gateway(gatewayIndex);
    if (api === undefined) return { kind: 'unavailable', reason: `gateway ${gatewayIndex} is down` };
    const signed = signRequest({
      method: call.method,
      path: call.path,
      query: call.query ?? [],
      host,
      accessKeyId: this.credentials.accessKeyId,
      secretAccessKey: this.credentials.secretAccessKey,
      region: this.credentials.region,
      nowMs: this.clock.nowMs(),
    });
    const body = call.body ?? new Uint8Array(0);
    const request: S3Request = {
      method: call.method,
      rawUrl: signed.queryString.length === 0 ? call.path : `${call.path}?${signed.queryString}`,
      headers: { ...call.headers, ...signed.headers, 'content-length': String(body.length) },
      body: chunks(body),
      remoteAddress: '10.0.0.1',
    };
    let timer: ReturnType<Clock['setTimer']> | undefined;
    const deadline = new Promise<S3Outcome>((resolve) => {
      timer = this.clock.setTimer(this.deadlineMs, () => { resolve({ kind: 'unavailable', reason: `no answer within ${this.deadlineMs} ms` }); });
    });
    const exchange = this.exchange(api, request);
    exchange.catch(this.onBug);
    try {
      return await Promise.race([exchange, deadline]);
    } finally {
      if (timer !== undefined) this.clock.clearTimer(timer);
    }
  }

  private async exchange(api: S3Api, request: S3Request): Promise<S3Outcome> {
    const response = await api.handle(request);
    try {
      return { kind: 'response', status: response.status, headers: response.headers, body: await collect(response) };
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      // A body that breaks off mid-stream (a shard read failed past what the code can rebuild): the client sees a cut connection.
      return { kind: 'unavailable', reason: `body broke off: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
}

async function* chunks(body: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < body.length; offset += bodyChunkBytes) {
    yield body.subarray(offset, Math.min(body.length, offset + bodyChunkBytes));
    await Promise.resolve();
  }
}

async function collect(response: S3Response): Promise<Uint8Array> {
  const { body } = response;
  if (body === undefined) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(Uint8Array.from(part));
  return Buffer.concat(parts);
}

/** The text of the first `<name>…</name>` in an XML body, or undefined. */
export function xmlField(body: Uint8Array, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(Buffer.from(body).toString('utf8'));
  return match?.[1];
}

/** Every `<Contents>` of a ListObjectsV2 answer: key and size. */
export function listedObjects(body: Uint8Array): { key: string; sizeBytes: number }[] {
  const text = Buffer.from(body).toString('utf8');
  const found: { key: string; sizeBytes: number }[] = [];
  for (const match of text.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const entry = match[1]!;
    const key = /<Key>([^<]*)<\/Key>/.exec(entry)?.[1];
    const size = /<Size>(\d+)<\/Size>/.exec(entry)?.[1];
    if (key !== undefined && size !== undefined) found.push({ key, sizeBytes: Number(size) });
  }
  return found;
}
