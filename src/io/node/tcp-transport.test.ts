// TcpTransport tests on real sockets on 127.0.0.1 (port 0): round trips small
// and large, concurrency, one-way sends, the handshake and per-batch
// authentication (checked with a raw client written from the wire format in
// the file comment of tcp-transport.ts, so the comment stays true),
// timeouts, peer restarts, backpressure bounds, handler errors and close.

import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { decodeRecord, encodeRecord } from '../../stdx/codec.js';
import type { LogFields, Logger, LogLevel } from '../logger.js';
import { TransportError } from '../transport.js';
import type { MessageHandler, NodeAddress, TransportErrorCode } from '../transport.js';
import { TcpTransport } from './tcp-transport.js';
import type { TcpTransportOptions } from './tcp-transport.js';
import { eventually } from '../../../test/helpers/eventually.js';

const secret = 'test-cluster-secret-0123456789';
const client = '127.0.0.1:1'; // the `from` the client names; the test client does not listen

const opened: TcpTransport[] = [];

function transport(options: Partial<TcpTransportOptions> = {}): TcpTransport {
  const created = new TcpTransport({ clusterSecret: secret, reconnectDelayMsMin: 10, reconnectDelayMsMax: 100, ...options });
  opened.push(created);
  return created;
}

/** A transport listening on 127.0.0.1 with `handler`; returns it and the bound address. */
async function server(handler: MessageHandler, options: Partial<TcpTransportOptions> = {}): Promise<{ node: TcpTransport; address: NodeAddress }> {
  const node = transport(options);
  node.listen('127.0.0.1:0', handler);
  return { node, address: await node.listening('127.0.0.1:0') };
}

/** A server whose handler counts its calls and answers `reply` (empty by default). */
async function countingServer(options: Partial<TcpTransportOptions> = {}, reply: Uint8Array = new Uint8Array(0)): Promise<{ address: NodeAddress; calls: () => number }> {
  let calls = 0;
  const { address } = await server(() => {
    calls++;
    return Promise.resolve(reply);
  }, options);
  return { address, calls: () => calls };
}

function isTransportError(code: TransportErrorCode, ...parts: string[]): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof TransportError, `expected a TransportError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const part of parts) assert.ok(error.message.includes(part), `"${error.message}" names ${part}`);
    return true;
  };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


const echo: MessageHandler = (_from, message) => Promise.resolve(message);

function capturingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = {
    log(level: LogLevel, message: string, fields?: LogFields) {
      if (level === 'warn') warnings.push(`${message}: ${String(fields?.['reason'])}`);
    },
  };
  return { logger, warnings };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((node) => node.close()));
});

describe('TcpTransport: messages', { timeout: 10_000 }, () => {
  it('round trips a small message and names the sender', async () => {
    const seen: string[] = [];
    const { address } = await server((from, message) => {
      seen.push(from);
      return Promise.resolve(Buffer.concat([Buffer.from('re: '), message]));
    });
    const reply = await transport().request(client, address, Buffer.from('hello'));
    assert.equal(Buffer.from(reply).toString(), 're: hello');
    assert.deepEqual(seen, [client]);
  });

  it('round trips empty and 8 MiB payloads byte-identical', async () => {
    const received: Buffer[] = [];
    const { address } = await server((_from, message) => {
      received.push(Buffer.from(message));
      return Promise.resolve(message);
    });
    const node = transport();
    assert.equal((await node.request(client, address, new Uint8Array(0))).length, 0);
    const large = randomBytes(8 * 1024 * 1024);
    const reply = await node.request(client, address, large);
    assert.ok(received[1]!.equals(large), 'the handler got the bytes sent');
    assert.ok(Buffer.from(reply).equals(large), 'the reply came back intact');
  });

  it('1000 concurrent requests each get their own reply', async () => {
    const { address } = await server((_from, message) => Promise.resolve(Buffer.from(`reply ${Buffer.from(message).toString()}`)));
    const node = transport();
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, index) => node.request(client, address, Buffer.from(String(index)))));
    replies.forEach((reply, index) => {
      assert.equal(Buffer.from(reply).toString(), `reply ${index}`);
    });
  });

  it('concurrent large requests over a pool of two connections', async () => {
    const { address } = await server(echo);
    const node = transport({ connectionsPerPeer: 2 });
    const payloads = Array.from({ length: 8 }, () => randomBytes(2 * 1024 * 1024));
    const replies = await Promise.all(payloads.map((payload) => node.request(client, address, payload)));
    replies.forEach((reply, index) => {
      assert.ok(Buffer.from(reply).equals(payloads[index]!));
    });
  });

  it('delivers one-way messages and drops the reply', async () => {
    const delivered = deferred<[string, string]>();
    const { address } = await server((from, message) => {
      delivered.resolve([from, Buffer.from(message).toString()]);
      return Promise.resolve(Buffer.from('ignored'));
    });
    transport().send(client, address, Buffer.from('prepare'));
    assert.deepEqual(await delivered.promise, [client, 'prepare']);
  });

  it('a one-way message to nobody is dropped quietly', async () => {
    const { address } = await server(echo);
    const port = Number(address.split(':')[1]);
    await opened.at(-1)!.close(); // frees the port: nothing listens there now
    const node = transport();
    node.send(client, `127.0.0.1:${port}`, Buffer.from('lost'));
    await delay(50); // an unhandled rejection would fail the test run
  });

  it('a handler error rejects the request with its message', async () => {
    const { address } = await server(async (_from, message) => {
      await delay(1);
      throw new Error(`disk on fire while storing ${message.length} bytes`);
    });
    await assert.rejects(transport().request(client, address, Buffer.from('abc')), isTransportError('remote_error', address, 'disk on fire while storing 3 bytes'));
  });

  it('a handler throwing synchronously is answered too', async () => {
    const { address } = await server(() => {
      throw new Error('no such fragment');
    });
    await assert.rejects(transport().request(client, address, Buffer.from('x')), isTransportError('remote_error', 'no such fragment'));
  });

  it('rejects bad addresses and oversized messages and replies', async () => {
    const { address } = await server(() => Promise.resolve(Buffer.alloc(2048)), { payloadBytesMax: 1024 });
    const node = transport({ payloadBytesMax: 1024 });
    await assert.rejects(node.request(client, 'no-port', Buffer.from('x')), isTransportError('bad_address', 'no-port'));
    await assert.rejects(node.request(client, address, Buffer.alloc(1025)), isTransportError('too_large', address, '1025'));
    assert.throws(() => {
      node.send(client, address, Buffer.alloc(1025));
    }, isTransportError('too_large'));
    await assert.rejects(node.request(client, address, Buffer.alloc(10)), isTransportError('remote_error', 'reply of 2048 bytes'));
  });
});

describe('TcpTransport: failures', { timeout: 10_000 }, () => {
  it('times out a request the handler never answers, naming the peer', async () => {
    const { address } = await server(() => new Promise<Uint8Array>(() => undefined));
    const started = performance.now();
    await assert.rejects(transport({ requestTimeoutMs: 200 }).request(client, address, Buffer.from('x')), isTransportError('timeout', address, '200 ms'));
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs >= 190 && elapsedMs < 2000, `timed out after ${elapsedMs} ms`);
  });

  it('a dead connection fails its requests at once, not at their timeout', async () => {
    const arrived = deferred();
    const { node: peer, address } = await server(() => {
      arrived.resolve();
      return new Promise<Uint8Array>(() => undefined);
    });
    const pending = transport({ requestTimeoutMs: 10_000 }).request(client, address, Buffer.from('x'));
    await arrived.promise;
    const started = performance.now();
    await peer.close();
    await assert.rejects(pending, isTransportError('connection_lost', address));
    assert.ok(performance.now() - started < 1000);
  });

  it('an unreachable peer fails fast', async () => {
    const { node: peer, address } = await server(echo);
    await peer.close();
    await assert.rejects(transport({ requestTimeoutMs: 5_000 }).request(client, address, Buffer.from('x')), isTransportError('unreachable', address));
  });

  it('requests work again after the peer restarts on the same port', async () => {
    const first = await server(echo);
    const node = transport();
    assert.equal(Buffer.from(await node.request(client, first.address, Buffer.from('one'))).toString(), 'one');
    await first.node.close();
    await assert.rejects(node.request(client, first.address, Buffer.from('two')));
    const restarted = transport();
    restarted.listen(first.address, echo);
    await restarted.listening(first.address);
    let reply: Uint8Array | undefined;
    for (let attempt = 0; attempt < 50 && reply === undefined; attempt++) {
      reply = await node.request(client, first.address, Buffer.from('three')).catch(async (error: unknown) => {
        assert.ok(error instanceof TransportError && error.code === 'unreachable', String(error));
        await delay(20);
        return undefined;
      });
    }
    assert.equal(Buffer.from(reply!).toString(), 'three');
  });

  it('listening() rejects when the port is taken', async () => {
    const { address } = await server(echo);
    const second = transport();
    second.listen(address, echo);
    await assert.rejects(second.listening(address), /EADDRINUSE/);
  });
});

describe('TcpTransport: authentication', { timeout: 10_000 }, () => {
  it('a wrong cluster secret is rejected and the handler never runs', async () => {
    const { logger, warnings } = capturingLogger();
    const { address, calls } = await countingServer({ logger }, Buffer.from('secret stuff'));
    const stranger = transport({ clusterSecret: 'some-other-secret-0123456789' });
    await assert.rejects(stranger.request(client, address, Buffer.from('let me in')), isTransportError('unreachable', address));
    stranger.send(client, address, Buffer.from('let me in'));
    await eventually(() => warnings.some((warning) => warning.includes('authentication failed')), 'the server logs the failed authentication', { stepMs: 5 });
    await delay(20); // the one-way message's connection is refused too
    assert.equal(calls(), 0);
  });

  it('rejects a cluster secret shorter than 16 bytes', () => {
    assert.throws(() => new TcpTransport({ clusterSecret: 'short' }), /at least 16/);
  });

  it('garbage instead of a hello is disconnected', async () => {
    const { address, calls } = await countingServer();
    const raw = await RawPeer.connect(address);
    raw.socket.write(randomBytes(200));
    await raw.closed;
    assert.equal(calls(), 0);
  });

  it('a forged handshake proof is disconnected', async () => {
    const { address } = await server(echo);
    const raw = await RawPeer.connect(address);
    raw.socket.write(Buffer.concat([Buffer.from('TSTH'), Buffer.from([1, 1, 0, 0]), randomBytes(32)]));
    await raw.read(40); // the acceptor's hello
    raw.socket.write(randomBytes(32)); // a proof made up without the secret
    await raw.closed;
  });

  it('an authenticated raw client (built from the documented format) gets answers', async () => {
    const { address } = await server((from, message) => Promise.resolve(Buffer.from(`${from} said ${Buffer.from(message).toString()}`)));
    const raw = await RawPeer.connect(address);
    await raw.handshake(secret);
    raw.socket.write(raw.batch([frame(1, 7, encodeRecord({ from: 'raw:1', to: address }), Buffer.from('hi'))]));
    const [reply] = await raw.readBatch();
    assert.deepEqual({ ...reply!, payload: reply!.payload.toString() }, { kind: 2, requestId: 7, header: {}, payload: 'raw:1 said hi' });
    raw.socket.destroy();
  });

  it('the replies of one tick leave as one batch under one tag', async () => {
    const { address } = await server(echo);
    const raw = await RawPeer.connect(address);
    await raw.handshake(secret);
    const header = encodeRecord({ from: 'raw:1', to: address });
    raw.socket.write(raw.batch(Array.from({ length: 10 }, (_, index) => frame(1, index + 1, header, Buffer.from(`m${index}`)))));
    const replies = await raw.readBatch(); // echo answers at once: all ten handlers settle in one tick
    assert.deepEqual(
      replies.map((reply) => [reply.requestId, reply.payload.toString()]),
      Array.from({ length: 10 }, (_, index) => [index + 1, `m${index}`]),
    );
    raw.socket.destroy();
  });

  it('a forged, replayed, corrupt or oversized batch closes the connection before any handler runs', async () => {
    const { logger, warnings } = capturingLogger();
    const { address, calls } = await countingServer({ logger });
    const header = encodeRecord({ from: 'raw:1', to: address });
    const forge = async (write: (raw: RawPeer) => void): Promise<void> => {
      const raw = await RawPeer.connect(address);
      await raw.handshake(secret);
      write(raw);
      await raw.closed;
    };
    // Right CRC, MAC under a key derived from a guessed secret.
    await forge((raw) => raw.socket.write(raw.batch([frame(1, 1, header, Buffer.from('x'))], { key: randomBytes(32) })));
    assert.equal(calls(), 0);
    // A flipped payload bit: caught by the CRC before the MAC.
    await forge((raw) => {
      const batch = raw.batch([frame(1, 1, header, Buffer.from('x'))]);
      batch[batch.length - 1]! ^= 1;
      raw.socket.write(batch);
    });
    assert.equal(calls(), 0);
    // A valid batch sent twice: the second is verified under the next sequence number.
    await forge((raw) => {
      const batch = raw.batch([frame(3, 0, header, Buffer.from('x'))]);
      raw.socket.write(Buffer.concat([batch, batch]));
    });
    assert.equal(calls(), 1);
    // A header announcing a 4 GiB body: closed on the batch header, nothing allocated or awaited.
    await forge((raw) => {
      const batch = raw.batch([frame(1, 2, header, Buffer.from('x'))]);
      batch.writeUInt32LE(0xffff_ffff, 32);
      raw.socket.write(batch.subarray(0, 36));
    });
    // A response sent to the accepting side.
    await forge((raw) => raw.socket.write(raw.batch([frame(2, 1, encodeRecord({}), Buffer.from('x'))])));
    assert.equal(calls(), 1);
    await eventually(() => warnings.length >= 5, 'the server logs on its side of the close', { stepMs: 5 });
    assert.deepEqual(warnings, [
      'transport connection rejected: batch authentication failed',
      'transport connection rejected: batch checksum mismatch',
      'transport connection rejected: batch authentication failed',
      `transport connection rejected: batch body of 4294967295 bytes exceeds ${16 + 64 * 1024 + 64 * 1024 * 1024}`,
      'transport connection rejected: frame kind 2 sent to an acceptor',
    ]);
  });

  it('a tampered, truncated, reordered, spliced or empty batch is rejected whole', async () => {
    const { logger, warnings } = capturingLogger();
    const { address, calls } = await countingServer({ logger });
    const header = encodeRecord({ from: 'raw:1', to: address });
    const frames = [frame(3, 0, header, Buffer.from('first')), frame(3, 0, header, Buffer.from('second'))];
    const attack = async (write: (raw: RawPeer) => void): Promise<void> => {
      const raw = await RawPeer.connect(address);
      await raw.handshake(secret);
      write(raw);
      await raw.closed;
    };
    // Tampered: a payload byte changed and the CRC fixed up, so only the MAC can tell.
    await attack((raw) => {
      const batch = raw.batch(frames);
      batch[batch.length - 1]! ^= 1;
      batch.writeUInt32LE(crc32c(batch.subarray(24)), 4);
      raw.socket.write(batch);
    });
    // Truncated: the second frame cut off, count and length fixed up to match, the tag kept.
    await attack((raw) => {
      const batch = raw.batch(frames);
      const truncated = Buffer.from(batch.subarray(0, 36 + frames[0]!.length));
      truncated.writeUInt32LE(1, 28);
      truncated.writeUInt32LE(frames[0]!.length, 32);
      truncated.writeUInt32LE(crc32c(truncated.subarray(24)), 4);
      raw.socket.write(truncated);
    });
    // Reordered: the second batch of the connection sent before the first.
    await attack((raw) => {
      const first = raw.batch([frames[0]!]);
      const second = raw.batch([frames[1]!]);
      raw.socket.write(Buffer.concat([second, first]));
    });
    // Spliced across directions: a batch under the acceptor-to-dialer key, as if reflected back.
    await attack((raw) => raw.socket.write(raw.batch(frames, { key: raw.receiveKey })));
    // Spliced across connections: a batch valid on another connection's first sequence number.
    const other = await RawPeer.connect(address);
    await other.handshake(secret);
    const foreign = other.batch(frames);
    await attack((raw) => raw.socket.write(foreign));
    other.socket.destroy();
    // Empty: a batch of no frames (its tag is valid).
    await attack((raw) => raw.socket.write(raw.batch([])));
    assert.equal(calls(), 0);
    await eventually(() => warnings.length >= 6, 'six rejected batches are logged', { stepMs: 5 });
    assert.deepEqual(warnings, [
      ...Array.from({ length: 5 }, () => 'transport connection rejected: batch authentication failed'),
      'transport connection rejected: batch of 0 frames, expected 1 to 4096',
    ]);
  });

  it('no frame of a batch runs before the whole batch has arrived and verified', async () => {
    const seen: string[] = [];
    const { address } = await server((_from, message) => {
      seen.push(Buffer.from(message).toString());
      return Promise.resolve(new Uint8Array(0));
    });
    const raw = await RawPeer.connect(address);
    await raw.handshake(secret);
    const header = encodeRecord({ from: 'raw:1', to: address });
    const batch = raw.batch([frame(3, 0, header, Buffer.from('one')), frame(3, 0, header, Buffer.alloc(20_000, 'b'))]);
    raw.socket.write(batch.subarray(0, batch.length - 1));
    await delay(50); // the first frame is all there, but not yet authenticated
    assert.deepEqual(seen, []);
    raw.socket.write(batch.subarray(batch.length - 1));
    await eventually(() => seen.length === 2, 'both messages arrive', { stepMs: 5 });
    assert.equal(seen[0], 'one');
    raw.socket.destroy();
  });
});

describe('TcpTransport: backpressure', { timeout: 10_000 }, () => {
  it('holds requests beyond requestsInFlightMax until a slot frees', async () => {
    let active = 0;
    let activeMax = 0;
    const release = deferred();
    const { address } = await server(async (_from, message) => {
      activeMax = Math.max(activeMax, ++active);
      await release.promise;
      active--;
      return message;
    });
    const node = transport({ requestsInFlightMax: 4 });
    const all = Promise.all(Array.from({ length: 20 }, (_, index) => node.request(client, address, Buffer.from([index]))));
    await eventually(() => activeMax === 4, 'four handlers run at once', { stepMs: 5 });
    await delay(50); // room for a fifth, were the bound not kept
    assert.equal(activeMax, 4);
    release.resolve();
    assert.equal((await all).length, 20);
    assert.equal(activeMax, 4);
  });

  it('runs at most handlersInFlightMax handlers per connection', async () => {
    let active = 0;
    let activeMax = 0;
    const { address } = await server(
      async (_from, message) => {
        activeMax = Math.max(activeMax, ++active);
        await delay(5);
        active--;
        return message;
      },
      { handlersInFlightMax: 3 },
    );
    const node = transport({ requestsInFlightMax: 100 });
    await Promise.all(Array.from({ length: 60 }, () => node.request(client, address, Buffer.from('x'))));
    assert.equal(activeMax, 3);
  });

  it('rejects with busy when requestsQueuedMax are already waiting', async () => {
    const release = deferred();
    const { address } = await server(async (_from, message) => {
      if (message[0] === 1) await release.promise;
      return message;
    });
    const node = transport({ requestsInFlightMax: 1, requestsQueuedMax: 2 });
    await node.request(client, address, Buffer.from([0])); // connected
    const queued = [1, 1, 1].map((byte) => node.request(client, address, Buffer.from([byte]))); // one in flight, two waiting
    await assert.rejects(node.request(client, address, Buffer.from([1])), isTransportError('busy', address));
    release.resolve();
    assert.equal((await Promise.all(queued)).length, 3);
  });
});

describe('TcpTransport: close', { timeout: 10_000 }, () => {
  it('rejects everything pending, refuses new work and leaves no handles', async () => {
    const arrived = deferred();
    const { node: peer, address } = await server(() => {
      arrived.resolve();
      return new Promise<Uint8Array>(() => undefined);
    });
    const node = transport({ requestsInFlightMax: 1 });
    const inFlight = assert.rejects(node.request(client, address, Buffer.from('in flight')), isTransportError('closed', address));
    const waiting = assert.rejects(node.request(client, address, Buffer.from('waiting')), isTransportError('closed', address));
    await arrived.promise;
    await node.close();
    await inFlight;
    await waiting;
    await assert.rejects(node.request(client, address, Buffer.from('late')), isTransportError('closed'));
    node.send(client, address, Buffer.from('late')); // dropped, no throw
    await peer.close();
    await Promise.all(opened.splice(0).map((open) => open.close()));
    await new Promise((resolve) => setImmediate(resolve)); // a closed server handle is released on the next loop turn
    const handles = process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP'));
    assert.deepEqual(handles, []);
  });
});

// ---------------------------------------------------------------------------
// A raw client that speaks the wire format from tcp-transport.ts's comment.

/** AES-256-GCM tag over `covered` as additional data, nonce = sequence u64 | 0 u32. */
function gmac(key: Buffer, sequence: number, covered: Buffer): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(sequence, 0);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(covered);
  cipher.final();
  return cipher.getAuthTag();
}

/** One frame of a batch body: 16-byte fixed part, msgpack header, payload. */
function frame(kind: number, requestId: number, header: Uint8Array, payload: Buffer): Buffer {
  const fixed = Buffer.alloc(16);
  fixed[0] = kind;
  fixed.writeUInt32LE(requestId, 4);
  fixed.writeUInt32LE(header.length, 8);
  fixed.writeUInt32LE(payload.length, 12);
  return Buffer.concat([fixed, header, payload]);
}

interface RawFrame {
  readonly kind: number;
  readonly requestId: number;
  readonly header: unknown;
  readonly payload: Buffer;
}

class RawPeer {
  private buffered = Buffer.alloc(0);
  private wanted: { count: number; done: (bytes: Buffer) => void; fail: (error: Error) => void } | undefined;
  private sendKey: Buffer = Buffer.alloc(0);
  receiveKey: Buffer = Buffer.alloc(0);
  private sendSequence = 0;
  private receiveSequence = 0;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.wanted?.fail(new Error('closed by the server'));
        resolve();
      });
    });
  }

  static async connect(address: NodeAddress): Promise<RawPeer> {
    const [host, port] = address.split(':');
    const socket = net.connect({ host: host!, port: Number(port) });
    await new Promise((resolve) => socket.once('connect', resolve));
    return new RawPeer(socket);
  }

  read(count: number): Promise<Buffer> {
    return new Promise((done, fail) => {
      this.wanted = { count, done, fail };
      this.deliver();
    });
  }

  async handshake(clusterSecret: string): Promise<void> {
    const hmac = (key: Buffer | string, ...parts: (Buffer | string)[]): Buffer => {
      const mac = createHmac('sha256', key);
      for (const part of parts) mac.update(part);
      return mac.digest();
    };
    const nonceDialer = randomBytes(32);
    this.socket.write(Buffer.concat([Buffer.from('TSTH'), Buffer.from([2, 1, 0, 0]), nonceDialer]));
    const hello = await this.read(40);
    assert.equal(hello.subarray(0, 6).toString('latin1'), 'TSTH\x02\x02');
    const nonceAcceptor = hello.subarray(8);
    this.socket.write(hmac(clusterSecret, 'tessera transport proof v2', Buffer.of(1), nonceDialer, nonceAcceptor));
    const proof = await this.read(32);
    assert.ok(proof.equals(hmac(clusterSecret, 'tessera transport proof v2', Buffer.of(2), nonceDialer, nonceAcceptor)));
    const session = hmac(clusterSecret, 'tessera transport session v2', nonceDialer, nonceAcceptor);
    this.sendKey = hmac(session, 'dialer to acceptor');
    this.receiveKey = hmac(session, 'acceptor to dialer');
  }

  /** One batch of `frames` under the next send sequence number; `key` overrides the session key (to forge one). */
  batch(frames: readonly Buffer[], { key = this.sendKey }: { key?: Buffer } = {}): Buffer {
    const batch = Buffer.concat([Buffer.alloc(36), ...frames]);
    batch.write('TSTB', 0, 'latin1');
    batch[24] = 2;
    batch.writeUInt32LE(frames.length, 28);
    batch.writeUInt32LE(batch.length - 36, 32);
    batch.writeUInt32LE(crc32c(batch.subarray(24)), 4);
    gmac(key, this.sendSequence++, batch.subarray(24)).copy(batch, 8);
    return batch;
  }

  /** The frames of the next batch, checked and authenticated as the documented format says. */
  async readBatch(): Promise<RawFrame[]> {
    const head = await this.read(36);
    assert.equal(head.subarray(0, 4).toString('latin1'), 'TSTB');
    const body = await this.read(head.readUInt32LE(32));
    const covered = Buffer.concat([head.subarray(24), body]);
    assert.equal(head.readUInt32LE(4), crc32c(covered));
    assert.ok(gmac(this.receiveKey, this.receiveSequence++, covered).equals(head.subarray(8, 24)), 'the batch is authenticated');
    const frames: RawFrame[] = [];
    let offset = 0;
    for (let index = 0; index < head.readUInt32LE(28); index++) {
      const headerLength = body.readUInt32LE(offset + 8);
      const payloadLength = body.readUInt32LE(offset + 12);
      const headerStart = offset + 16;
      frames.push({
        kind: body[offset]!,
        requestId: body.readUInt32LE(offset + 4),
        header: decodeRecord(body.subarray(headerStart, headerStart + headerLength)),
        payload: body.subarray(headerStart + headerLength, headerStart + headerLength + payloadLength),
      });
      offset = headerStart + headerLength + payloadLength;
    }
    assert.equal(offset, body.length, 'the frames fill the batch body');
    return frames;
  }

  private deliver(): void {
    const wanted = this.wanted;
    if (wanted === undefined || this.buffered.length < wanted.count) return;
    this.wanted = undefined;
    const bytes = this.buffered.subarray(0, wanted.count);
    this.buffered = this.buffered.subarray(wanted.count);
    wanted.done(bytes);
  }
}
