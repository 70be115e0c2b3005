// Transport benchmark: TcpTransport request/response (handshake once, then
// frames in batches, one CRC32C and one 16-byte GMAC per batch each way,
// msgpack header per frame) against a plain node:net echo with the simplest
// framing (u32 length, bytes), both echoing the payload back. Cases: 200-byte
// messages with 1 and 64 requests in flight (requests/s), and 1 MiB payloads
// with 8 in flight (payload MB/s one way; the same bytes come back). Both use
// one connection; both write a small frame as one buffer and a large one as
// prefix and payload, and both cork a socket until the next tick (the frames
// of a tick leave in one writev), so framing and syscalls cost the same and
// the ratio is what authentication and bookkeeping cost.
//
// The servers run in a worker thread (another core, as another node would be);
// the clients run here. Rounds alternate the order, so drift on a shared
// machine hits both.
// Run: npm run build && node dist/bench/transport.js [--quick]

import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { TcpTransport } from '../src/io/node/tcp-transport.js';
import { assert } from '../src/stdx/assert.js';

const clusterSecret = 'bench-cluster-secret-0000000000000000';
const listenAddress = '127.0.0.1:0';
const clientAddress = '127.0.0.1:1';
const coalesceBytesMax = 16 * 1024;

interface ServerPorts {
  readonly echoPort: number;
  readonly tesseraAddress: string;
}

type Request = (payload: Buffer) => Promise<Uint8Array>;

// ---------------------------------------------------------------------------
// The baseline: u32 little-endian length, then the bytes.

class LengthPrefixedReader {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private frameBytes = -1;

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.frameBytes < 0) {
        if (this.bufferedBytes < 4) return;
        this.frameBytes = this.take(4).readUInt32LE(0);
      }
      if (this.bufferedBytes < this.frameBytes) return;
      const frame = this.take(this.frameBytes);
      this.frameBytes = -1;
      this.onFrame(frame);
    }
  }

  /** One copy at most: joins the chunks only when the bytes span several. */
  private take(count: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(count);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bufferedBytes -= count;
    return all.subarray(0, count);
  }
}

const corkedSockets = new WeakSet<net.Socket>();

/** Corks `socket` until the next tick, as TcpTransport does, so the frames of one tick leave in one writev. */
function corkUntilNextTick(socket: net.Socket): void {
  if (corkedSockets.has(socket)) return;
  corkedSockets.add(socket);
  socket.cork();
  process.nextTick(() => {
    corkedSockets.delete(socket);
    socket.uncork();
  });
}

function writeLengthPrefixed(socket: net.Socket, payload: Buffer): void {
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32LE(payload.length, 0);
  corkUntilNextTick(socket);
  if (payload.length <= coalesceBytesMax) {
    socket.write(Buffer.concat([prefix, payload]));
    return;
  }
  socket.write(prefix);
  socket.write(payload);
}

function startEchoServer(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const reader = new LengthPrefixedReader((frame) => {
      writeLengthPrefixed(socket, frame);
    });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      assert(address !== null && typeof address === 'object', 'echo server listens on TCP');
      resolve(address.port);
    });
  });
}

/** Pipelined requests on one connection; the echo server answers in order. */
async function connectEchoClient(port: number): Promise<{ request: Request; close: () => void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const waiting: ((reply: Buffer) => void)[] = [];
  const reader = new LengthPrefixedReader((frame) => {
    waiting.shift()!(frame);
  });
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk);
  });
  return {
    request: (payload) => {
      writeLengthPrefixed(socket, payload);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close: () => socket.destroy(),
  };
}

// ---------------------------------------------------------------------------
// Load and report.

interface Case {
  readonly name: string;
  readonly payloadBytes: number;
  readonly concurrency: number;
  readonly unit: 'req/s' | 'MB/s';
}

const cases: readonly Case[] = [
  { name: '200 B, 1 in flight', payloadBytes: 200, concurrency: 1, unit: 'req/s' },
  { name: '200 B, 64 in flight', payloadBytes: 200, concurrency: 64, unit: 'req/s' },
  { name: '1 MiB, 8 in flight', payloadBytes: 1024 * 1024, concurrency: 8, unit: 'MB/s' },
];

interface Measured {
  readonly ops: number;
  readonly seconds: number;
}

async function load(request: Request, payload: Buffer, concurrency: number, durationMs: number): Promise<Measured> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(durationMs) * 1_000_000n;
  let ops = 0;
  const worker = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      await request(payload);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ops, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function rate(benchCase: Case, measured: Measured): number {
  const perSecond = measured.ops / measured.seconds;
  return benchCase.unit === 'req/s' ? perSecond : (perSecond * benchCase.payloadBytes) / 1e6;
}

async function checkEcho(name: string, request: Request, payload: Buffer): Promise<void> {
  const reply = await request(payload);
  assert(Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength).equals(payload), `${name} echoed ${reply.length} bytes intact`);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 1 : 3;
  const durationMs = quick ? 500 : 2000;
  const worker = new Worker(new URL(import.meta.url));
  const ports = await new Promise<ServerPorts>((resolve) => worker.once('message', resolve));
  const echoClient = await connectEchoClient(ports.echoPort);
  const transport = new TcpTransport({ clusterSecret });
  const systems: readonly { name: string; request: Request }[] = [
    { name: 'baseline', request: echoClient.request },
    { name: 'tessera', request: (payload) => transport.request(clientAddress, ports.tesseraAddress, payload) },
  ];
  console.log(`${os.cpus().length} cores, node ${process.version}; servers in a worker thread; ${rounds} rounds of ${durationMs} ms per case and system${quick ? ', quick' : ''}`);
  console.log('case                    baseline        tessera     ratio  per round');
  for (const benchCase of cases) {
    const payload = randomBytes(benchCase.payloadBytes);
    for (const system of systems) {
      await checkEcho(system.name, system.request, payload);
      await load(system.request, payload, benchCase.concurrency, durationMs / 4); // warm up
    }
    const totals = systems.map(() => ({ ops: 0, seconds: 0 }));
    const roundRatios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const rates: number[] = [0, 0];
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) {
        const measured = await load(systems[index]!.request, payload, benchCase.concurrency, durationMs);
        totals[index]!.ops += measured.ops;
        totals[index]!.seconds += measured.seconds;
        rates[index] = rate(benchCase, measured);
      }
      roundRatios.push(rates[1]! / rates[0]!);
    }
    const baseline = rate(benchCase, totals[0]!);
    const tessera = rate(benchCase, totals[1]!);
    const range = `${Math.min(...roundRatios).toFixed(2)}-${Math.max(...roundRatios).toFixed(2)}`;
    console.log(
      `${benchCase.name.padEnd(20)} ${baseline.toFixed(0).padStart(8)} ${benchCase.unit.padEnd(5)} ${tessera.toFixed(0).padStart(8)} ${benchCase.unit.padEnd(5)} ${(tessera / baseline).toFixed(2).padStart(6)}  ${range}`,
    );
  }
  console.log('ratio: tessera/baseline over all rounds; per round: lowest-highest ratio of single rounds.');
  echoClient.close();
  await transport.close();
  await worker.terminate();
}

/** The worker: both servers, echoing; reports their ports and runs until terminated. */
async function serve(): Promise<void> {
  const echoPort = await startEchoServer();
  const transport = new TcpTransport({ clusterSecret });
  transport.listen(listenAddress, (_from, message) => Promise.resolve(message));
  const ports: ServerPorts = { echoPort, tesseraAddress: await transport.listening(listenAddress) };
  parentPort!.postMessage(ports);
}

if (isMainThread) await main();
else await serve();
