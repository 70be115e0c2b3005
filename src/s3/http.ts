// The S3 layer's view of HTTP: plain values, no sockets. io/node/http-server.ts
// adapts node:http to these types; tests and the simulator can call the S3
// handler directly.

export type HeaderMap = Readonly<Record<string, string | undefined>>;

export interface S3Request {
  readonly method: string;
  /** Raw request target as sent, e.g. `/bucket/key%20name?uploads`. */
  readonly rawUrl: string;
  /** Lower-cased header names; repeated headers joined with ",". */
  readonly headers: HeaderMap;
  /** The request body as it arrives; consumed at most once. */
  readonly body: AsyncIterable<Uint8Array>;
  readonly remoteAddress: string;
}

export interface S3Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** A whole body, or a stream consumed with backpressure. */
  readonly body?: Uint8Array | AsyncIterable<Uint8Array>;
}
