// The composition root of one cluster node: the roles its config names, over
// one authenticated TCP transport.
//   meta     one replica of each metadata group it names (VSR on its own LMDB
//            env in dataDir/meta/group-<g>, at its own address)
//   blob     the node's drives (dataDir/drives/drive-<id>) served by BlobService
//   gateway  S3 over HTTP: metadata through each group's primary (one
//            RemoteMetaClient per group behind a PartitionedMetaClient that
//            routes by bucket), fragments on any blob node (RemoteBlobClient),
//            parts placed over the cluster layout so no failure domain holds
//            more than m shards; with `workers`, also, once per metadata
//            group, the janitor, GC and the healer/rebalancer (missing,
//            corrupt and draining shards), and once per gateway the orphan
//            sweep over every drive (workers/cluster-orphan-sweep.ts).
// A cluster gateway never aborts PREPARING versions at start-up (another
// gateway may be writing them; the janitor's timeout handles them) and does
// not sweep orphans at start-up as the embedded node does: a fragment can be
// on a drive before metadata names it there (a healer writes new shards
// before move_shards records them), so the sweep runs on its own schedule and
// deletes only what stayed unreferenced and unwritten for a grace period.

import * as path from 'node:path';
import { BlobService } from '../blob/blob-service.js';
import { FragmentStore } from '../blob/fragment-store.js';
import { Gateway } from '../gateway/gateway.js';
import { RemoteAccessKeyCache } from '../gateway/remote-access-keys.js';
import { RemoteBlobClient } from '../gateway/remote-blob-client.js';
import { connectPartitioned } from '../gateway/partitioned-meta-client.js';
import { RemoteMetaClient } from '../gateway/remote-meta-client.js';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import type { Logger } from '../io/logger.js';
import type { Disk } from '../io/disk.js';
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
import { startGroupWorkers, startOrphanSweep, workerHooks } from '../workers/group-workers.js';
import type { GroupWorkers } from '../workers/group-workers.js';
import type { MetaReplicaRole, NodeConfig } from './cluster-config.js';
import { initialClusterMap, layoutDrives } from './cluster-config.js';
import { HttpServer } from './http-server.js';

export interface ClusterNode {
  /** The S3 endpoint, when this node is a gateway. */
  readonly endpoint: string | undefined;
  readonly protection: string;
  close(): Promise<void>;
}

/**
 * Where replica `group` keeps its LMDB env: dataDir/meta/group-<g>. A node
 * from before partitioning kept its one group's env at dataDir/meta/lmdb: group
 * 0 goes on using it there; a node that no longer runs group 0 but still has it
 * is refused rather than silently left with a stale copy.
 */
async function metaStorePath(disk: Disk, config: NodeConfig, group: number): Promise<string> {
  const legacy = path.join(config.dataDir, 'meta', 'lmdb');
  const hasLegacy = (await disk.stat(legacy)) !== undefined;
  if (hasLegacy && !(config.roles.meta ?? []).some((role) => role.group === 0)) {
    throw new Error(`${legacy} holds metadata group 0 of an older layout, but this node's config runs no replica of group 0; move it to the node that does`);
  }
  return group === 0 && hasLegacy ? legacy : path.join(config.dataDir, 'meta', `group-${group}`);
}

/** Opens replica `role` on its own store and listens at its address; returns what closes it. */
async function startMetaReplica(config: NodeConfig, env: Env, transport: TcpTransport, role: MetaReplicaRole): Promise<() => Promise<void>> {
  const addresses = config.cluster.meta[role.group]!;
  const address = addresses[role.replicaIndex]!;
  await env.disk.mkdirp(path.join(config.dataDir, 'meta'));
  const kv = new LmdbStore({ path: await metaStorePath(env.disk, config, role.group) });
  const service = await MetaService.open(env, kv, { replicaIndex: role.replicaIndex, addresses, replacement: role.replacement, listenAlone: true });
  await transport.listening(address);
  env.logger.log('info', 'meta replica up', { group: role.group, replicaIndex: role.replicaIndex, address });
  return async () => {
    await service.close();
    await kv.close();
  };
}

/** Requests a metadata replica handles at once per connection (above a gateway's 256 in flight). */
const metaHandlersInFlightMax = 1024;
/** The metadata transport's frame limit: a state transfer is one message holding the whole state machine. */
const metaPayloadBytesMax = 1024 * 1024 * 1024;

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
    await metaTransport?.close();
    await transport.close();
  };

  // Metadata replicas get a transport of their own: a gateway keeps up to 256
  // requests in flight on its one connection to a primary, and the blob
  // service's per-connection handler limit (each handler may hold an 8 MiB
  // reply) would hold those ops to 64 at once. Metadata replies are small;
  // one message is not: a state transfer carries a replica's whole state
  // machine, so the frame limit is 1 GiB rather than the default 64 MiB (a
  // lagging replica of a bigger state stays behind, logged; see "Not yet").
  const metaTransport =
    (roles.meta ?? []).length === 0
      ? undefined
      : new TcpTransport({ clusterSecret: cluster.secret, logger, handlersInFlightMax: metaHandlersInFlightMax, payloadBytesMax: metaPayloadBytesMax });
  try {
    if (metaTransport !== undefined) {
      const metaEnv: Env = { ...env, transport: metaTransport };
      for (const role of roles.meta ?? []) closers.push(await startMetaReplica(config, metaEnv, metaTransport, role));
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
      const root = new RemoteMetaClient(env, { localAddress, replicas: cluster.meta[0]! });
      // The cluster map lives in the root group: the first gateway up installs
      // it from the config (a later one finds it there), then every gateway
      // follows its epoch. Its groups and partition table, not the config's,
      // say where a bucket lives.
      let map = await root.getClusterMap();
      if (map === undefined) {
        await root.submit({ type: 'set_cluster_map', map: initialClusterMap(cluster) });
        map = await root.getClusterMap();
        assert(map !== undefined, 'the cluster map was installed');
      }
      if (map.metaGroups.length !== cluster.meta.length) {
        logger.log('warn', 'the cluster map and this config disagree on the metadata groups; following the map', { map: map.metaGroups.length, config: cluster.meta.length });
      }
      const meta = connectPartitioned(env, map, root, { localAddress });
      closers.push(() => {
        meta.close();
        return Promise.resolve();
      });
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
      // With `workers`, one set per metadata group (index = group), each over that group's client.
      const groupWorkers: GroupWorkers[] = [];
      // The layout of the newest cluster map this gateway follows (placement, healer, rebalancer).
      let currentLayout = { level: map.level, drives: layoutDrives(map) };
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
          layout: currentLayout,
          hedgeAfterMs: 250,
        },
        workerHooks(groupWorkers, (bucket) => meta.groupOf(bucket), logger),
      );
      if (gatewayRole.workers) {
        for (let group = 0; group < meta.groupCount; group++) {
          const workers = startGroupWorkers(env, meta.group(group), blob, gateway, { ...gatewayRole, layout: () => currentLayout });
          groupWorkers.push(workers);
          closers.push(() => {
            workers.stop();
            return Promise.resolve();
          });
        }
        if (gatewayRole.orphanSweepIntervalMs > 0) {
          const groups = Array.from({ length: meta.groupCount }, (_, group) => meta.group(group));
          const stopSweep = startOrphanSweep(env, groups, blob, groupWorkers, {
            intervalMs: gatewayRole.orphanSweepIntervalMs,
            graceMs: gatewayRole.orphanGraceMs,
            layout: () => currentLayout,
          });
          closers.push(() => {
            stopSweep();
            return Promise.resolve();
          });
        }
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
              const nextLayout = { level: next.level, drives: layoutDrives(next) };
              gateway.useLayout(nextLayout);
              currentLayout = nextLayout;
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
