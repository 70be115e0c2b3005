// Heal throughput: how fast the healer puts shards back, on one machine.
// A FragmentStore with 8 drive folders (4 "nodes" of 2 drives, failure domain
// node, 4+2, 256 KiB blocks as the servers use) behind an LMDB MetaService;
// objects are written through the gateway, then one node's two drives are
// marked failed (every shard on them is rebuilt: read k shards, decode,
// re-encode, write, fsync) or draining (every shard is copied block by
// block), and rebalancer passes run until nothing is left. Reported: MB/s of
// shard bytes written (the rebuilt or copied fragments, each durable before
// it is recorded). Each scenario starts from a fresh store.
// Run: npm run build && node dist/bench/heal.js [objects] [MiB per object]

import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { FragmentStore } from '../src/blob/fragment-store.js';
import { Gateway } from '../src/gateway/gateway.js';
import { LocalMetaClient } from '../src/gateway/local-meta-client.js';
import { noFaults } from '../src/io/env.js';
import type { Env } from '../src/io/env.js';
import { InProcessTransport } from '../src/io/in-process-transport.js';
import { silentLogger } from '../src/io/logger.js';
import { LmdbStore } from '../src/io/node/lmdb-store.js';
import { NodeClock } from '../src/io/node/node-clock.js';
import { NodeDisk } from '../src/io/node/node-disk.js';
import { NodeRandom } from '../src/io/node/node-random.js';
import { MetaService } from '../src/meta/meta-service.js';
import type { ClusterLayout, DriveState } from '../src/placement/layout.js';
import { assert } from '../src/stdx/assert.js';
import { Healer } from '../src/workers/healer.js';
import { Rebalancer } from '../src/workers/rebalancer.js';
import { makeBenchRoot } from './lib.js';

const objectCount = Number(process.argv[2] ?? 24);
const objectMiB = Number(process.argv[3] ?? 8);
const driveIds = [0, 1, 2, 3, 4, 5, 6, 7];
const nodeOf = (drive: number): string => `node-${Math.floor(drive / 2)}`;

function layoutWith(leaving: readonly number[], state: DriveState): ClusterLayout {
  return {
    level: 'node',
    drives: driveIds.map((id) => ({ id, weight: 1, state: leaving.includes(id) ? state : ('active' as const), zone: nodeOf(id), rack: nodeOf(id), node: nodeOf(id) })),
  };
}

interface Row {
  readonly scenario: string;
  readonly shards: number;
  readonly shardBytes: number;
  readonly seconds: number;
}

async function scenario(root: string, state: 'failed' | 'draining'): Promise<Row> {
  const base = path.join(root, state);
  const env: Env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport: new InProcessTransport(), faults: noFaults, logger: silentLogger };
  await env.disk.mkdirp(path.join(base, 'meta'));
  const kv = new LmdbStore({ path: path.join(base, 'meta', 'lmdb') });
  const service = await MetaService.open(env, kv);
  const meta = new LocalMetaClient(service);
  const store = new FragmentStore({ disk: env.disk, drives: driveIds.map((id) => ({ id, path: path.join(base, `drive-${id}`) })) });
  await store.init();
  let layout = layoutWith([], 'active');
  const gateway = new Gateway(
    env,
    meta,
    store,
    { scheme: { k: 4, m: 2 }, blockSizeBytes: 256 * 1024, inlineBytesMax: 64 * 1024, objectBytesMax: 1024 ** 3, drives: driveIds.map((id) => ({ id, weight: 1, state: 'active' as const })), layout },
    { onGarbage: () => undefined, onReadEnded: () => undefined, onShardFailure: () => undefined },
  );
  try {
    await meta.submit({ type: 'create_bucket', bucket: 'bench', bucketId: 'b', owner: 'bench', region: 'local' });
    const body = Buffer.alloc(objectMiB * 1024 * 1024);
    for (let index = 0; index < body.length; index++) body[index] = (index * 2654435761) >>> 24;
    for (let index = 0; index < objectCount; index++) {
      body.writeUInt32BE(index, 0);
      const outcome = await gateway.putObject({ bucket: 'bench', key: `o-${index}`, owner: 'bench', contentType: '', headers: {}, userMetadata: {}, body: Readable.from([body]) });
      assert(outcome.status === 'ok', 'bench write');
    }
    layout = layoutWith([6, 7], state);
    const healer = new Healer(env, meta, store, { layout: () => layout, onGarbage: () => undefined });
    const rebalancer = new Rebalancer(env, meta, healer, { layout: () => layout, repairsInFlightMax: 2 });
    const started = process.hrtime.bigint();
    for (;;) {
      const report = await rebalancer.runPass();
      if (report.cycleDone && report.candidates === 0) break;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const { stats } = healer;
    assert(stats.failedRepairs === 0, 'every repair succeeded');
    const shards = stats.shardsRebuilt + stats.shardsCopied;
    return { scenario: state === 'failed' ? 'rebuild (2 failed drives)' : 'copy (2 draining drives)', shards, shardBytes: stats.bytesRebuilt + stats.bytesCopied, seconds };
  } finally {
    await service.close();
    await kv.close();
    await store.close();
  }
}

const root = await makeBenchRoot('tessera-bench-heal-');
try {
  process.stdout.write(`heal bench: ${objectCount} objects of ${objectMiB} MiB, 4+2, 256 KiB blocks, 8 drive folders on one disk\n`);
  for (const state of ['failed', 'draining'] as const) {
    const row = await scenario(root, state);
    const mb = row.shardBytes / 1e6;
    process.stdout.write(
      `  ${row.scenario.padEnd(26)} ${String(row.shards).padStart(4)} shards, ${mb.toFixed(1)} MB of shards in ${row.seconds.toFixed(2)} s: ` +
        `${(mb / row.seconds).toFixed(1)} MB/s of shards written\n`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
