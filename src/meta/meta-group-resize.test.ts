// A metadata group changes size with real parts: MetaService replicas on LMDB
// in temp directories, over the authenticated TCP transport on 127.0.0.1. A
// group of 1 grows to 3 with `set_group_size` (the joiners take the state
// first), keeps every committed op when its first replica goes away, and that
// replica catches up from its LMDB when it comes back.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { silentLogger } from '../io/logger.js';
import { freePort } from '../io/node/free-port.js';
import { LmdbStore } from '../io/node/lmdb-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import { NotPrimaryError } from '../vsr/kv-driver.js';
import { MetaService } from './meta-service.js';
import type { MetaOp, MetaResult } from './ops.js';
import { eventually } from '../../test/helpers/eventually.js';

const secret = 'meta-group-resize-test-secret';

interface Node {
  readonly transport: TcpTransport;
  readonly kv: LmdbStore;
  readonly service: MetaService;
}

describe('MetaService: resizing a metadata group (VSR reconfiguration)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-resize-'));
  // NodeClock's timers do not keep the process alive; a wait on them alone would end the test early.
  const keepAlive = setInterval(() => undefined, 50);
  after(() => {
    clearInterval(keepAlive);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function start(addresses: readonly string[], index: number, options: { joining?: boolean } = {}): Promise<Node> {
    const transport = new TcpTransport({ clusterSecret: secret, logger: silentLogger });
    const env: Env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
    const kv = new LmdbStore({ path: path.join(root, `replica-${index}`) });
    const service = await MetaService.open(env, kv, { replicaIndex: index, addresses, initialReplicaCount: 1, tickMs: 5, ...options });
    await transport.listening(addresses[index]!);
    return { transport, kv, service };
  }

  async function stop(node: Node): Promise<void> {
    await node.service.close();
    await node.kv.close();
    await node.transport.close();
  }

  /** Submits to whichever replica leads, following refusals, within a deadline. */
  async function submit(nodes: readonly (Node | undefined)[], op: MetaOp): Promise<MetaResult> {
    const deadline = Date.now() + 10_000;
    for (let attempt = 0; ; attempt++) {
      const node = nodes[attempt % nodes.length];
      if (node !== undefined) {
        try {
          return await node.service.submit(op);
        } catch (error) {
          if (!(error instanceof NotPrimaryError)) throw error;
        }
      }
      assert.ok(Date.now() < deadline, 'no replica led within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }


  const bucket = (name: string): MetaOp => ({ type: 'create_bucket', bucket: name, bucketId: `id-${name}`, owner: 'alice', region: 'us-east-1' });

  it('grows 1 → 3 over TCP with LMDB, then survives the first replica going away', async () => {
    const addresses = await Promise.all([0, 1, 2].map(async () => `127.0.0.1:${await freePort()}`));
    const nodes: (Node | undefined)[] = [await start(addresses, 0)];
    try {
      await growAndLoseOne(addresses, nodes);
    } finally {
      // Stopped whatever happened: open transports and timers would keep the test process alive.
      for (const node of nodes) if (node !== undefined) await stop(node);
    }
  });

  async function growAndLoseOne(addresses: readonly string[], nodes: (Node | undefined)[]): Promise<void> {
    for (let index = 0; index < 20; index++) assert.equal((await submit(nodes, bucket(`before-${index}`))).status, 'bucket_created');

    nodes[1] = await start(addresses, 1, { joining: true });
    nodes[2] = await start(addresses, 2, { joining: true });
    assert.equal(nodes[1].service.replicaStatus.status, 'recovering', 'a joiner waits for the state');
    await assert.rejects(submit(nodes, { type: 'set_group_size', replicaCount: 4 }), /odd/);
    assert.deepEqual(await submit(nodes, { type: 'set_group_size', replicaCount: 3 }), { status: 'ok' });
    await eventually(() => nodes.every((node) => node!.service.replicaStatus.epoch === 1 && node!.service.replicaStatus.status === 'normal'), 'all three in epoch 1', { timeoutMs: 10_000, stepMs: 20 });
    assert.equal(nodes[2].service.replicaStatus.replicaCount, 3);
    // The replica reports its status from memory, inside the turn that installs
    // the state; local reads see the state once that turn's transaction commits.
    await eventually(() => nodes[2]!.service.listBuckets().length === 20, 'a joiner holds the state it joined with', { timeoutMs: 10_000, stepMs: 20 });

    await stop(nodes[0]!);
    nodes[0] = undefined;
    for (let index = 0; index < 10; index++) assert.equal((await submit(nodes, bucket(`after-${index}`))).status, 'bucket_created');
    nodes[0] = await start(addresses, 0);
    await eventually(() => nodes[0]!.service.listBuckets().length === 30, 'the first replica caught up from its LMDB and its peers', { timeoutMs: 10_000, stepMs: 20 });
    assert.equal(nodes[0].service.replicaStatus.epoch, 1);
  }
});
