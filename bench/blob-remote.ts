// Blob RPC benchmark: 64 MiB fragments (256 KiB blocks) written and read
// through RemoteBlobClient → BlobService → FragmentStore, against the same
// FragmentStore called directly, in the same run. Access patterns are the
// gateway's: writes append one block per call (as StripeWriter does) and
// finish (fsync, rename, directory fsync); reads ask windows of 4 blocks with
// the next window prefetched (as part-reader does). Reads hit the page cache
// (the fragments were just written), so they measure overhead, not the drive.
//
// Variants:
//   local        FragmentStore on this thread (the embedded node's binding)
//   tcp          RemoteBlobClient over TcpTransport to a BlobService in a
//                worker thread (another core, as another node would be)
//   in-process   RemoteBlobClient over InProcessTransport, same thread (the
//                protocol's cost without sockets)
// Rounds rotate the order of the variants; the best round of each is shown.
// Run: npm run build && node dist/bench/blob-remote.js [--quick]

import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BlobService } from '../src/blob/blob-service.js';
import { FragmentStore } from '../src/blob/fragment-store.js';
import { RemoteBlobClient } from '../src/gateway/remote-blob-client.js';
import type { BlobClient } from '../src/gateway/clients.js';
import { noFaults } from '../src/io/env.js';
import type { Env } from '../src/io/env.js';
import { InProcessTransport } from '../src/io/in-process-transport.js';
import { silentLogger } from '../src/io/logger.js';
import { NodeClock } from '../src/io/node/node-clock.js';
import { NodeDisk } from '../src/io/node/node-disk.js';
import { NodeRandom } from '../src/io/node/node-random.js';
import { TcpTransport } from '../src/io/node/tcp-transport.js';
import type { Transport } from '../src/io/transport.js';
import { assert } from '../src/stdx/assert.js';

const clusterSecret = 'bench-cluster-secret-0000000000000000';
const blockSizeBytes = 256 * 1024;
const fragmentBytes = 64 * 1024 * 1024;
const blocksPerFragment = fragmentBytes / blockSizeBytes;
const windowBlocks = 4;

function makeEnv(transport: Transport): Env {
  return { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
}

async function openStore(path: string): Promise<FragmentStore> {
  const store = new FragmentStore({ disk: new NodeDisk(), drives: [{ id: 0, path }] });
  await store.init();
  return store;
}

/** The blob node of the tcp variant, in a worker thread: posts its bound address. */
async function runBlobNode(drivePath: string): Promise<void> {
  const transport = new TcpTransport({ clusterSecret });
  const store = await openStore(drivePath);
  const service = new BlobService(makeEnv(transport), store, { address: '127.0.0.1:0' });
  service.start();
  parentPort!.postMessage(await transport.listening('127.0.0.1:0'));
}

const blocks = Array.from({ length: 16 }, (_, index) => {
  const bytes = Buffer.allocUnsafe(blockSizeBytes);
  for (let at = 0; at < blockSizeBytes; at++) bytes[at] = (at * 2654435761 + index) >>> 24;
  return bytes;
});

async function writeFragment(blob: BlobClient, fragmentId: string): Promise<void> {
  const writer = await blob.createWriter(0, fragmentId, blockSizeBytes);
  try {
    for (let index = 0; index < blocksPerFragment; index++) await writer.appendBlocks([blocks[index % blocks.length]!]);
    await writer.finish();
  } finally {
    await writer.abort();
  }
}

async function readFragment(blob: BlobClient, fragmentId: string): Promise<void> {
  const readWindow = (first: number): Promise<Buffer[]> => blob.readBlocks(0, fragmentId, first, windowBlocks);
  let next = readWindow(0);
  for (let first = 0; first < blocksPerFragment; first += windowBlocks) {
    const window = await next;
    if (first + windowBlocks < blocksPerFragment) next = readWindow(first + windowBlocks);
    assert(window.length === windowBlocks && window[0]!.equals(blocks[first % blocks.length]!), `${fragmentId}: window ${first} read back`);
  }
}

interface Variant {
  readonly name: string;
  readonly blob: BlobClient;
  writeSeconds: number[];
  readSeconds: number[];
}

/** One round of a variant: `fragments` written one after another, then read one after another. */
async function round(variant: Variant, fragments: number, tag: string): Promise<void> {
  const ids = Array.from({ length: fragments }, (_, index) => `${tag}-${variant.name}-${index}`);
  let start = performance.now();
  for (const id of ids) await writeFragment(variant.blob, id);
  variant.writeSeconds.push((performance.now() - start) / 1000);
  start = performance.now();
  for (const id of ids) await readFragment(variant.blob, id);
  variant.readSeconds.push((performance.now() - start) / 1000);
  for (const id of ids) await variant.blob.delete(0, id);
}

function megabytesPerSecond(fragments: number, seconds: readonly number[]): number {
  return (fragments * fragmentBytes) / 1e6 / Math.min(...seconds);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 1 : 3;
  const fragments = quick ? 1 : 2;
  const root = mkdtempSync(join(os.tmpdir(), 'tessera-blob-remote-'));
  const worker = new Worker(new URL(import.meta.url), { workerData: join(root, 'tcp-node') });
  const tcpClientTransport = new TcpTransport({ clusterSecret });
  const inProcess = new InProcessTransport();
  const local = await openStore(join(root, 'local'));
  const inProcessStore = await openStore(join(root, 'in-process-node'));
  const inProcessService = new BlobService(makeEnv(inProcess), inProcessStore, { address: 'blob-node' });
  try {
    const tcpAddress = await new Promise<string>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    inProcessService.start();
    const variants: Variant[] = [
      { name: 'local', blob: local, writeSeconds: [], readSeconds: [] },
      {
        name: 'tcp',
        blob: new RemoteBlobClient(makeEnv(tcpClientTransport), { localAddress: '127.0.0.1:1', addressOf: () => tcpAddress }),
        writeSeconds: [],
        readSeconds: [],
      },
      {
        name: 'in-process',
        blob: new RemoteBlobClient(makeEnv(inProcess), { localAddress: 'gateway', addressOf: () => 'blob-node' }),
        writeSeconds: [],
        readSeconds: [],
      },
    ];
    console.log(
      `${os.cpus().length} cores, node ${process.version}; ${fragments} × 64 MiB fragments per round, 256 KiB blocks; ` +
        `${rounds} round(s), best shown; tcp: blob node in a worker thread${quick ? '; quick' : ''}`,
    );
    for (let index = 0; index < rounds; index++) {
      const order = variants.map((_, at) => variants[(at + index) % variants.length]!);
      for (const variant of order) await round(variant, fragments, `r${index}`);
    }
    const baseline = variants[0]!;
    console.log('variant       write MB/s  ratio   read MB/s  ratio');
    for (const variant of variants) {
      const write = megabytesPerSecond(fragments, variant.writeSeconds);
      const read = megabytesPerSecond(fragments, variant.readSeconds);
      const writeRatio = write / megabytesPerSecond(fragments, baseline.writeSeconds);
      const readRatio = read / megabytesPerSecond(fragments, baseline.readSeconds);
      console.log(
        `${variant.name.padEnd(12)} ${write.toFixed(0).padStart(11)} ${writeRatio.toFixed(2).padStart(6)} ${read.toFixed(0).padStart(11)} ${readRatio.toFixed(2).padStart(6)}`,
      );
    }
  } finally {
    await inProcessService.stop();
    await tcpClientTransport.close();
    await worker.terminate();
    await local.close();
    await inProcessStore.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await runBlobNode(workerData as string);
