// The composition root of one cluster node: the roles its config names, over
// one authenticated TCP transport.
//   meta     one replica of the metadata group (VSR on LMDB in dataDir/meta)
//   blob     the node's drives (dataDir/drives/drive-<id>) served by BlobService
//   gateway  S3 over HTTP: metadata through the group's primary
//            (RemoteMetaClient), fragments on any blob node (RemoteBlobClient),
//            parts placed over the cluster layout so no failure domain holds
//            more than m shards; with `workers`, also the janitor and GC.
// A cluster gateway never aborts PREPARING versions at start-up (another
// gateway may be writing them) and never sweeps orphans (a fragment being
// written is not yet in metadata); the janitor's timeout handles the first.

import * as path from 'node:path';
import { BlobService } from '../blob/blob-service.js';
import { FragmentStore } from '../blob/fragment-store.js';
import { Gateway } from '../gateway/gateway.js';
import { RemoteAccessKeyCache } from '../gateway/remote-access-keys.js';
import { RemoteBlobClient } from '../gateway/remote-blob-client.js';
import { RemoteMetaClient } from '../gateway/remote-meta-client.js';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import type { Logger } from '../io/logger.js';
import { LmdbStore } from '../io/node/lmdb-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import { MetaService } from '../meta/meta-service.js';
import type { ClusterMapRecord } from '../meta/records.js';
import { assert } from '../stdx/assert.js';
import { analyzeProtection } from '../placement/protection.js';
import { S3Api } from '../s3/s3-api.js';
import { makeUser, UserDirectory } from '../s3/users.js';
import { GarbageCollector } from '../workers/garbage-collector.js';
import { Janitor } from '../workers/janitor.js';
import { scheduleBackgroundPasses } from '../workers/background-passes.js';
import type { NodeConfig } from './cluster-config.js';
import { initialClusterMap, layoutDrives } from './cluster-config.js';
import { HttpServer } from './http-server.js';

export interface ClusterNode {
  /** The S3 endpoint, when this node is a gateway. */
  readonly endpoint: string | undefined;
  readonly protection: string;
  close(): Promise<void>;
}

export async function startClusterNode(config: NodeConfig, logger: Logger): Promise<ClusterNode> {
  const { cluster, roles } = config;
  const clock = new NodeClock();
  const disk = new NodeDisk();
  const transport = new TcpTransport({ clusterSecret: cluster.secret, logger });
  const env: Env = { clock, random: new NodeRandom(), disk, transport, faults: noFaults, logger };
  const closers: (() => Promise<void>)[] = [];
  const layout = { level: cluster.level, drives: layoutDrives(cluster) };
  const protection = analyzeProtection(layout, cluster.scheme);
  const protectionText = protection.status === 'ok' ? protection.report.sentence : protection.message;
  let endpoint: string | undefined;

  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) {
      try {
        await closer();
      } catch (error) {
        logger.log('warn', 'cluster node: close failed', { error: String(error) });
      }
    }
    await transport.close();
  };

  try {
    if (roles.meta !== undefined) {
      await disk.mkdirp(path.join(config.dataDir, 'meta'));
      const kv = new LmdbStore({ path: path.join(config.dataDir, 'meta', 'lmdb') });
      const service = await MetaService.open(env, kv, { replicaIndex: roles.meta.replicaIndex, addresses: cluster.meta, replacement: roles.meta.replacement, listenAlone: true });
      await transport.listening(cluster.meta[roles.meta.replicaIndex]!);
      closers.push(async () => {
        await service.close();
        await kv.close();
      });
      logger.log('info', 'meta replica up', { replicaIndex: roles.meta.replicaIndex, address: cluster.meta[roles.meta.replicaIndex] });
    }

    if (roles.blob === true) {
      const spec = cluster.nodes.find((node) => node.name === config.name)!;
      const drives = spec.drives.map((drive) => ({ id: drive.id, path: path.join(config.dataDir, 'drives', `drive-${drive.id}`) }));
      for (const drive of drives) await disk.mkdirp(drive.path);
      const store = new FragmentStore({ disk, drives, logger });
      await store.init();
      const service = new BlobService(env, store, { address: spec.blob! });
      service.start();
      await transport.listening(spec.blob!);
      closers.push(async () => {
        await service.stop();
        await store.close();
      });
      logger.log('info', 'blob node up', { address: spec.blob, drives: drives.map((drive) => drive.id) });
    }

    if (roles.gateway !== undefined) {
      const gatewayRole = roles.gateway;
      const localAddress = `gateway:${config.name}`;
      const meta = new RemoteMetaClient(env, { localAddress, replicas: cluster.meta });
      // The cluster map lives in the root group: the first gateway up installs
      // it from the config (a later one finds it there), then every gateway
      // follows its epoch.
      let map = await meta.getClusterMap();
      if (map === undefined) {
        await meta.submit({ type: 'set_cluster_map', map: initialClusterMap(cluster) });
        map = await meta.getClusterMap();
        assert(map !== undefined, 'the cluster map was installed');
      }
      const addressesOf = (current: ClusterMapRecord): Map<number, string> =>
        new Map(current.nodes.flatMap((node) => (node.blob === undefined ? [] : node.drives.map((drive) => [drive.id, node.blob!] as const))));
      let blobAddress = addressesOf(map);
      const blob = new RemoteBlobClient(env, {
        localAddress,
        addressOf: (driveId) => {
          const address = blobAddress.get(driveId);
          if (address === undefined) throw new Error(`drive ${driveId} is not in the cluster map`);
          return address;
        },
      });
      const keys = new RemoteAccessKeyCache(env, meta);
      await keys.start();
      closers.push(async () => {
        keys.stop();
        await Promise.resolve();
      });
      let gc: GarbageCollector | undefined;
      const gateway = new Gateway(
        env,
        meta,
        blob,
        {
          scheme: cluster.scheme,
          blockSizeBytes: 256 * 1024,
          inlineBytesMax: 64 * 1024,
          objectBytesMax: 5 * 1024 * 1024 * 1024,
          drives: layout.drives.map((drive) => ({ id: drive.id, weight: drive.weight, state: 'active' as const })),
          layout: { level: map.level, drives: layoutDrives(map) },
          hedgeAfterMs: 250,
        },
        {
          onGarbage: () => gc?.kick(),
          onReadEnded: (versionId) => gc?.readEnded(versionId),
          onShardFailure: (failure) => {
            logger.log('warn', 'shard read failed (reported for healing)', { ...failure, error: String(failure.error) });
          },
        },
      );
      if (gatewayRole.workers) {
        const collector = new GarbageCollector(env, meta, blob, { graceMs: 60_000, batchMax: 256, isBeingRead: (versionId) => gateway.isBeingRead(versionId) });
        gc = collector;
        const stopWorkers = scheduleBackgroundPasses(env, new Janitor(env, meta, 60 * 60 * 1000), collector, 30_000);
        closers.push(() => {
          stopWorkers();
          return Promise.resolve();
        });
      }
      let mapEpoch = map.epoch;
      let stopFollowing = false;
      const followMap = (): void => {
        if (stopFollowing) return;
        clock.setTimer(2000, () => {
          void meta
            .getClusterMap()
            .then((next) => {
              if (next === undefined || next.epoch <= mapEpoch) return;
              gateway.useLayout({ level: next.level, drives: layoutDrives(next) });
              blobAddress = addressesOf(next);
              mapEpoch = next.epoch;
              logger.log('info', 'gateway follows a new cluster map', { epoch: next.epoch });
            })
            .catch((error: unknown) => {
              logger.log('warn', 'reading the cluster map failed', { error: String(error) });
            })
            .finally(followMap);
        });
      };
      followMap();
      closers.push(() => {
        stopFollowing = true;
        return Promise.resolve();
      });
      const users = new UserDirectory([makeUser(cluster.root.accessKey, cluster.root.secretKey, 'root')], keys);
      const api = new S3Api(
        { env, meta, gateway, users, region: 'us-east-1', objectBytesMax: 5 * 1024 * 1024 * 1024, partBytesMin: 5 * 1024 * 1024, rootAccessKeyId: cluster.root.accessKey },
        { virtualHostSuffixes: ['localhost'] },
      );
      const http = new HttpServer({ host: gatewayRole.host, port: gatewayRole.port, handle: (request) => api.handle(request), logger });
      const bound = await http.listen();
      closers.push(() => http.close());
      endpoint = `http://${bound.host}:${bound.port}`;
      logger.log('info', 'gateway up', { endpoint });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, protection: protectionText, close };
}
