// node:http ↔ the S3 layer's plain request/response values. Streams response
// bodies with backpressure, answers header overflows and malformed requests
// with S3 XML errors, and closes connections whose request body was not read
// (so a rejected 5 GiB upload is not drained).

import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../io/logger.js';
import type { S3Request, S3Response } from '../s3/http.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly handle: (request: S3Request) => Promise<S3Response>;
  readonly logger: Logger;
  /** Largest request header section (AWS: 8 KiB of metadata; Node default 16 KiB). */
  readonly headerBytesMax?: number;
}

function headerMap(message: http.IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}

const headerOverflowBody =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestHeaderSectionTooLarge</Code>' +
  '<Message>Your request header section exceeds the maximum allowed size.</Message><RequestId>0</RequestId></Error>';

export class HttpServer {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly connectionQueues = new WeakMap<Socket, Promise<void>>();

  constructor(private readonly options: HttpServerOptions) {
    this.server = http.createServer({ maxHeaderSize: options.headerBytesMax ?? 16 * 1024, requestTimeout: 0, keepAliveTimeout: 65_000 });
    const serve = (request: http.IncomingMessage, response: http.ServerResponse, expectsContinue: boolean): void => {
      // Requests pipelined on one connection run one after another, so a GET
      // sent after a PUT on the same socket sees it (responses are in order anyway).
      const previous = this.connectionQueues.get(request.socket) ?? Promise.resolve();
      const current = previous.then(() => this.serve(request, response, expectsContinue));
      this.connectionQueues.set(request.socket, current.catch(() => undefined));
      current.catch((error: unknown) => {
        options.logger.log('error', 'fatal: invariant broken while serving a request', {
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        process.exit(70);
      });
    };
    this.server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      serve(request, response, false);
    });
    // Expect: 100-continue: the interim 100 goes out only when a handler starts
    // reading the body, so an error known from the headers (no bucket, bad
    // signature) is answered without the client sending the body first.
    this.server.on('checkContinue', (request: http.IncomingMessage, response: http.ServerResponse) => {
      serve(request, response, true);
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return;
      if (error.code === 'HPE_HEADER_OVERFLOW') {
        const requestId = randomBytes(8).toString('hex').toUpperCase();
        const body = headerOverflowBody.replace('<RequestId>0</RequestId>', `<RequestId>${requestId}</RequestId>`);
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `x-amz-request-id: ${requestId}\r\nx-amz-id-2: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async serve(message: http.IncomingMessage, response: http.ServerResponse, expectsContinue: boolean): Promise<void> {
    const body: AsyncIterable<Uint8Array> = expectsContinue
      ? {
          [Symbol.asyncIterator]: () => {
            response.writeContinue();
            return (message as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
          },
        }
      : message;
    const request: S3Request = {
      method: message.method ?? 'GET',
      rawUrl: message.url ?? '/',
      headers: headerMap(message),
      body,
      remoteAddress: message.socket.remoteAddress ?? '',
    };
    const answer = await this.options.handle(request);
    if (!message.complete) {
      // The handler did not read the whole body (it answered an error first).
      response.setHeader('connection', 'close');
      response.shouldKeepAlive = false;
    }
    await this.write(response, answer, message);
  }

  private async write(response: http.ServerResponse, answer: S3Response, message: http.IncomingMessage): Promise<void> {
    response.writeHead(answer.status, answer.headers);
    const body = answer.body;
    if (body === undefined || message.method === 'HEAD') {
      response.end();
      return;
    }
    if (body instanceof Uint8Array) {
      response.end(body);
      return;
    }
    try {
      for await (const chunk of body) {
        if (response.destroyed) return;
        if (!response.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              response.off('drain', done);
              response.off('close', done);
              resolve();
            };
            response.on('drain', done);
            response.on('close', done);
          });
        }
      }
      response.end();
    } catch (error) {
      // Headers are out: the only honest signal left is to cut the connection.
      this.options.logger.log('error', 'response stream failed', { error: String(error) });
      response.destroy(error instanceof Error ? error : new Error(String(error)));
      if (error instanceof Error && error.name === 'AssertionError') throw error;
    }
  }
}
