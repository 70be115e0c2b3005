// The composition root of the embedded server: builds the real Env, opens the
// metadata service (a VSR group of 1 on LMDB), the fragment store on N drive
// folders, the gateway, workers and the S3 API, recovers from any crash (temp
// files, stale PREPARING versions, queued garbage, orphan fragments), then
// listens.

import * as path from 'node:path';
import { FragmentStore } from '../blob/fragment-store.js';
import { Gateway } from '../gateway/gateway.js';
import { LocalMetaClient } from '../gateway/local-meta-client.js';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import type { Logger } from '../io/logger.js';
import { HttpServer } from './http-server.js';
import { LmdbStore } from '../io/node/lmdb-store.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { MetaService } from '../meta/meta-service.js';
import type { Scheme } from '../placement/drive-placement.js';
import { describeProtection } from '../placement/drive-placement.js';
import { S3Api } from '../s3/s3-api.js';
import { makeUser, UserDirectory } from '../s3/users.js';
import type { S3User, UserSource } from '../s3/users.js';
import { readAccessKey } from '../meta/attributes.js';
import { accessKeyRange } from '../meta/keys.js';
import type { AccessKeyRecord } from '../meta/records.js';
import { decodeRecord } from '../stdx/codec.js';
import { GarbageCollector } from '../workers/garbage-collector.js';
import { Janitor } from '../workers/janitor.js';
import { sweepOrphans } from '../workers/orphan-sweep.js';
import { scheduleBackgroundPasses } from '../workers/background-passes.js';
import { loadOrCreateCredentials, checkLayout } from './data-dir.js';
import type { Credentials } from './data-dir.js';

export interface EmbeddedServerOptions {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly driveCount: number;
  readonly scheme: Scheme;
  readonly logger: Logger;
  /** Root credentials; generated once and kept in the data dir when absent. */
  readonly root?: Credentials;
  /** More users (e.g. the second account s3-tests needs). */
  readonly extraUsers?: readonly (Credentials & { displayName?: string })[];
  readonly region?: string;
  readonly inlineBytesMax?: number;
  readonly blockSizeBytes?: number;
  readonly objectBytesMax?: number;
  /** Smallest multipart part but the last (default 5 MiB, as S3). */
  readonly partBytesMin?: number;
  /** Unfinished multipart uploads older than this are aborted by the janitor (default 7 days). */
  readonly uploadTimeoutMs?: number;
  readonly gcGraceMs?: number;
  readonly preparingTimeoutMs?: number;
  readonly workerIntervalMs?: number;
  readonly virtualHostSuffixes?: readonly string[];
}

export interface EmbeddedServer {
  readonly endpoint: string;
  readonly root: Credentials & { readonly generated: boolean };
  readonly protection: string;
  readonly gateway: Gateway;
  readonly garbageCollector: GarbageCollector;
  readonly fragments: FragmentStore;
  readonly driveDirs: readonly string[];
  close(): Promise<void>;
}

/** Access keys created through the admin API, read from metadata on each lookup. */
function accessKeysOf(metaService: MetaService): UserSource {
  const toUser = (key: AccessKeyRecord): S3User => makeUser(key.accessKeyId, key.secretAccessKey, key.displayName);
  return {
    byKey: (accessKeyId) => {
      const key = readAccessKey(metaService.reader, accessKeyId);
      return key === undefined ? undefined : toUser(key);
    },
    byId: (canonicalId) => {
      for (const entry of metaService.reader.scan(accessKeyRange)) {
        const key = decodeRecord(entry.value) as AccessKeyRecord;
        if (key.userId === canonicalId) return toUser(key);
      }
      return undefined;
    },
  };
}

export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const logger = options.logger;
  const clock = new NodeClock();
  const disk = new NodeDisk();
  const env: Env = { clock, random: new NodeRandom(), disk, transport: new InProcessTransport(), faults: noFaults, logger };
  const dataDir = path.resolve(options.dataDir);
  const { k, m } = options.scheme;
  if (options.driveCount < k + m) {
    throw new Error(`Erasure coding ${k}+${m} needs at least ${k + m} drives; --drives is ${options.driveCount}`);
  }
  await disk.mkdirp(path.join(dataDir, 'meta'));
  await checkLayout(disk, dataDir, options.driveCount);
  const root = await loadOrCreateCredentials(disk, env.random, dataDir, options.root);

  if ((await disk.stat(path.join(dataDir, 'meta', 'journal.log'))) !== undefined) {
    throw new Error(
      `${dataDir} holds metadata in the format of an older Tessera (meta/journal.log); this version keeps the replicated log in LMDB. ` +
        'No migration is provided before 1.0: start with an empty --data-dir.',
    );
  }
  const kv = new LmdbStore({ path: path.join(dataDir, 'meta', 'lmdb') });
  const metaService = await MetaService.open(env, kv);
  const meta = new LocalMetaClient(metaService);
  const driveDirs = Array.from({ length: options.driveCount }, (_, id) => path.join(dataDir, 'drives', `drive-${id}`));
  const fragments = new FragmentStore({ disk, drives: driveDirs.map((drivePath, id) => ({ id, path: drivePath })), logger });
  await fragments.init();

  const gc: GarbageCollector = new GarbageCollector(env, meta, fragments, {
    graceMs: options.gcGraceMs ?? 0,
    batchMax: 256,
    isBeingRead: (versionId) => gateway.isBeingRead(versionId),
  });
  const gateway = new Gateway(
    env,
    meta,
    fragments,
    {
      scheme: options.scheme,
      blockSizeBytes: options.blockSizeBytes ?? 256 * 1024,
      inlineBytesMax: options.inlineBytesMax ?? 64 * 1024,
      objectBytesMax: options.objectBytesMax ?? 5 * 1024 * 1024 * 1024,
      drives: driveDirs.map((_, id) => ({ id, weight: 1, state: 'active' as const })),
    },
    {
      onGarbage: () => {
        gc.kick();
      },
      onReadEnded: (versionId) => {
        gc.readEnded(versionId);
      },
      onShardFailure: (failure) => {
        logger.log('warn', 'shard read failed (reported for healing)', { ...failure, error: String(failure.error) });
      },
    },
  );
  const janitor = new Janitor(env, meta, options.preparingTimeoutMs ?? 60 * 60 * 1000, options.uploadTimeoutMs ?? 7 * 24 * 60 * 60 * 1000);

  // Crash recovery: nothing was in flight before this process started.
  await janitor.runPass({ all: true });
  while ((await gc.runPass()).versions > 0) {
    // Drain the garbage queue left by the previous run.
  }
  await sweepOrphans(env, meta, fragments, driveDirs.map((_, id) => id));

  const region = options.region ?? 'us-east-1';
  const users = new UserDirectory(
    [
      makeUser(root.accessKeyId, root.secretAccessKey, 'root'),
      ...(options.extraUsers ?? []).map((user) => makeUser(user.accessKeyId, user.secretAccessKey, user.displayName ?? user.accessKeyId)),
    ],
    accessKeysOf(metaService),
  );
  const api = new S3Api(
    {
      env,
      meta,
      gateway,
      users,
      region,
      objectBytesMax: options.objectBytesMax ?? 5 * 1024 * 1024 * 1024,
      partBytesMin: options.partBytesMin ?? 5 * 1024 * 1024,
      rootAccessKeyId: root.accessKeyId,
    },
    { virtualHostSuffixes: options.virtualHostSuffixes ?? ['localhost'] },
  );
  const http = new HttpServer({ host: options.host, port: options.port, handle: (request) => api.handle(request), logger });
  const address = await http.listen();

  const stopWorkers = scheduleBackgroundPasses(env, janitor, gc, options.workerIntervalMs ?? 30_000);

  return {
    endpoint: `http://${address.host}:${address.port}`,
    root,
    protection: describeProtection(options.scheme, options.driveCount),
    gateway,
    garbageCollector: gc,
    fragments,
    driveDirs,
    async close() {
      stopWorkers();
      await http.close();
      await metaService.close();
      await kv.close();
      await fragments.close();
    },
  };
}
