// `tessera cluster start|status|stop [--dir DIR]`: a local cluster of separate
// processes on 127.0.0.1, each node with its own data folder, ports and log.
//   start  --nodes N --zones Z [--ec K+M] [--drives-per-node D] [--gateways G]
//          [--meta-groups G] (metadata groups, each 3 replicas in distinct
//          zones spread over the nodes; fixed for the life of the cluster, as
//          is the partition table of 64 slots that maps buckets to them).
//          Default 1: every node of a local cluster shares one machine's
//          cores, and each group adds replica processes and smaller batches
//          (measured, 6 nodes on 2 cores: 4 KiB PUTs 681–932/s with 1 group,
//          345–381/s with 2; CPU per PUT 1.7 → 3.8 ms). Groups pay off when
//          their replicas have machines of their own.
//          [--worker-interval-ms MS] [--gc-grace-ms MS] (the workers gateway's
//          janitor/GC/healer pass interval and GC grace period)
//          writes DIR/cluster.json and DIR/<node>/node.yaml, starts every node
//          (`tessera node --config …`), waits until S3 answers a signed
//          ListBuckets, prints the endpoint and keys. On a DIR that already
//          holds a stopped cluster it starts the same cluster again.
//   status shows nodes, zones, drives (capacity, health; for a draining or
//          failed drive the fragments left on it, or "drained"), each metadata
//          group with its replicas, primary, slots and buckets, the partition
//          table, the gateways and the protection level.
//   stop   stops exactly the processes `start` recorded (SIGTERM, then SIGKILL
//          after 10 s).
//   drive  --node NAME | --drive ID, --state active|draining|failed: a new
//          cluster map epoch in the root group; gateways place new parts by it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { noFaults } from '../io/env.js';
import { silentLogger } from '../io/logger.js';
import { freePort } from '../io/node/free-port.js';
import { NodeClock } from '../io/node/node-clock.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import { TcpTransport } from '../io/node/tcp-transport.js';
import { RemoteBlobClient } from '../gateway/remote-blob-client.js';
import { RemoteMetaClient } from '../gateway/remote-meta-client.js';
import { planPlacement } from '../placement/domain-placement.js';
import type { DriveState, FailureDomainLevel, Scheme } from '../placement/layout.js';
import { analyzeProtection, validateScheme } from '../placement/protection.js';
import type { ClusterSpec, MetaReplicaRole, NodeSpec } from '../process/cluster-config.js';
import { metaGroupsMax } from '../process/cluster-config.js';
import { partitionSlotsDefault, partitionTableOf, slotsPerGroup } from '../meta/partition-table.js';
import type { BucketRecord, ClusterMapRecord } from '../meta/records.js';
import { layoutDrives } from '../process/cluster-config.js';
import { signRequest } from '../s3/auth/sigv4-signer.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { ConfigError, parseFlags, parseScheme } from './config.js';

interface ClusterNodeRecord {
  readonly name: string;
  readonly config: string;
  readonly log: string;
  readonly roles: string[];
  /** The metadata replicas the node runs (absent in records from before partitioning). */
  readonly meta?: readonly Omit<MetaReplicaRole, 'replacement'>[];
  pid: number | undefined;
}

interface ClusterRecord {
  readonly cluster: ClusterSpec;
  readonly gateways: string[];
  readonly nodes: ClusterNodeRecord[];
}

const tesseraBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/tessera.js');

function recordPath(dir: string): string {
  return path.join(dir, 'cluster.json');
}

function readRecord(dir: string): ClusterRecord {
  const file = recordPath(dir);
  if (!existsSync(file)) throw new ConfigError(`No cluster in ${dir} (${file} does not exist); start one with: tessera cluster start --dir ${dir}`);
  const record = JSON.parse(readFileSync(file, 'utf8')) as ClusterRecord;
  // A record from before partitioning lists one group's replicas flat.
  const meta: readonly unknown[] = record.cluster.meta;
  if (meta.every((entry): entry is string => typeof entry === 'string')) return { ...record, cluster: { ...record.cluster, meta: [meta] } };
  return record;
}

function writeRecord(dir: string, record: ClusterRecord): void {
  writeFileSync(recordPath(dir), JSON.stringify(record, null, 2) + '\n');
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function positive(flags: ReadonlyMap<string, string>, name: string, fallback: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new ConfigError(`--${name} must be an integer in 1..${max}, got "${raw}"`);
  return value;
}

const keyAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomKey(length: number, alphabet: string): string {
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]!).join('');
}

/**
 * Places each metadata group's replicas on distinct nodes, in distinct zones
 * when there are as many zones as replicas. Each replica goes to the node
 * hosting the fewest replicas so far, and replica 0 (the first primary) to
 * the node that leads the fewest groups, so the groups' load, primaries
 * first, spreads over the nodes (6 nodes, 2 groups: each on its own 3;
 * 3 nodes: every node a replica of both, primaries on different nodes).
 * Returns the node index of every replica, by group.
 */
export function placeMetaGroups(nodes: readonly Pick<NodeSpec, 'zone'>[], groupCount: number, replicaCount: number): number[][] {
  const hosted = nodes.map(() => 0);
  const leading = nodes.map(() => 0);
  const zoneCount = new Set(nodes.map((node) => node.zone)).size;
  return Array.from({ length: groupCount }, () => {
    const chosen: number[] = [];
    for (let replica = 0; replica < replicaCount; replica++) {
      const zones = new Set(chosen.map((index) => nodes[index]!.zone));
      const candidates = nodes.flatMap((node, index) => (chosen.includes(index) || (zoneCount >= replicaCount && zones.has(node.zone)) ? [] : [index]));
      const score = (index: number): number => (replica === 0 ? leading[index]! * nodes.length * groupCount : 0) + hosted[index]!;
      const best = candidates.reduce((a, b) => (score(b) < score(a) ? b : a));
      chosen.push(best);
      hosted[best]! += 1;
      if (replica === 0) leading[best]! += 1;
    }
    return chosen;
  });
}

/** Lays out a new cluster: nodes round-robin over zones, a rack per node, metadata groups by placeMetaGroups. */
async function planCluster(dir: string, flags: ReadonlyMap<string, string>): Promise<ClusterRecord> {
  const nodeCount = positive(flags, 'nodes', 6, 64);
  const zoneCount = positive(flags, 'zones', 3, nodeCount);
  const drivesPerNode = positive(flags, 'drives-per-node', 2, 24);
  const gatewayCount = positive(flags, 'gateways', 1, nodeCount);
  const workerTimings = {
    ...(flags.has('worker-interval-ms') ? { workerIntervalMs: positive(flags, 'worker-interval-ms', 30_000, 3_600_000) } : {}),
    ...(flags.has('gc-grace-ms') ? { gcGraceMs: positive(flags, 'gc-grace-ms', 60_000, 86_400_000) } : {}),
  };
  const scheme: Scheme = parseScheme(flags.get('ec') ?? '4+2');
  const level: FailureDomainLevel = zoneCount > 1 ? 'zone' : nodeCount > 1 ? 'node' : 'drive';
  const nodes: NodeSpec[] = [];
  for (let index = 0; index < nodeCount; index++) {
    nodes.push({
      name: `node-${index}`,
      zone: `zone-${index % zoneCount}`,
      rack: `rack-${index}`,
      blob: `127.0.0.1:${await freePort()}`,
      drives: Array.from({ length: drivesPerNode }, (_, drive) => ({ id: index * drivesPerNode + drive, weight: 1 })),
    });
  }
  const layout = { level, drives: layoutDrives({ nodes }) };
  const validation = validateScheme(layout, scheme);
  if (validation.status !== 'ok') throw new ConfigError(validation.message);
  const replicaCount = nodeCount >= 3 ? 3 : 1;
  const groupCount = positive(flags, 'meta-groups', 1, metaGroupsMax);
  const placement = placeMetaGroups(nodes, groupCount, replicaCount);
  const meta: string[][] = [];
  for (const replicas of placement) meta.push(await Promise.all(replicas.map(async () => `127.0.0.1:${await freePort()}`)));
  const cluster: ClusterSpec = {
    secret: randomBytes(24).toString('base64url'),
    scheme,
    level,
    root: { accessKey: 'TS' + randomKey(18, keyAlphabet), secretKey: randomBytes(30).toString('base64url') },
    meta,
    partitionSlots: partitionSlotsDefault,
    nodes,
  };
  const gateways = await Promise.all(Array.from({ length: gatewayCount }, async () => `127.0.0.1:${await freePort()}`));
  const records: ClusterNodeRecord[] = [];
  for (const [index, node] of nodes.entries()) {
    const nodeDir = path.join(dir, node.name);
    mkdirSync(nodeDir, { recursive: true });
    const roles: Record<string, unknown> = { blob: true };
    const hosted = placement.flatMap((replicas, group) => replicas.flatMap((nodeIndex, replicaIndex) => (nodeIndex === index ? [{ group, replicaIndex }] : [])));
    if (hosted.length > 0) roles.meta = hosted;
    if (index < gatewayCount) roles.gateway = { address: gateways[index], workers: index === 0, ...(index === 0 ? workerTimings : {}) };
    const config = path.join(nodeDir, 'node.yaml');
    writeFileSync(config, toYaml({ cluster, node: { name: node.name, dataDir: path.join(nodeDir, 'data'), roles } }));
    records.push({ name: node.name, config, log: path.join(nodeDir, 'node.log'), roles: Object.keys(roles), meta: hosted, pid: undefined });
  }
  return { cluster, gateways, nodes: records };
}

function spawnNode(node: ClusterNodeRecord): number {
  const log = openSync(node.log, 'a');
  const child = spawn(process.execPath, [tesseraBin, 'node', '--config', node.config], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${node.name}`);
  return child.pid;
}

/** A signed ListBuckets: 200 once the gateway serves and the metadata group has a primary. */
function listBuckets(endpoint: string, cluster: ClusterSpec): Promise<number> {
  const url = new URL(endpoint);
  const signed = signRequest({
    method: 'GET',
    path: '/',
    query: [],
    host: url.host,
    accessKeyId: cluster.root.accessKey,
    secretAccessKey: cluster.root.secretKey,
    region: 'us-east-1',
    nowMs: Date.now(),
  });
  return new Promise((resolve) => {
    const request = http.request({ host: url.hostname, port: url.port, method: 'GET', path: '/', headers: signed.headers, timeout: 2000 }, (response) => {
      response.resume();
      response.on('end', () => {
        resolve(response.statusCode ?? 0);
      });
    });
    request.on('error', () => {
      resolve(0);
    });
    request.on('timeout', () => {
      request.destroy();
      resolve(0);
    });
    request.end();
  });
}

async function start(flags: ReadonlyMap<string, string>): Promise<number> {
  const dir = path.resolve(flags.get('dir') ?? './cluster');
  mkdirSync(dir, { recursive: true });
  let record: ClusterRecord;
  if (existsSync(recordPath(dir))) {
    record = readRecord(dir);
    const running = record.nodes.filter((node) => alive(node.pid));
    if (running.length > 0) throw new ConfigError(`The cluster in ${dir} is running (${running.map((node) => node.name).join(', ')}); stop it first: tessera cluster stop --dir ${dir}`);
    process.stdout.write(`Starting the existing cluster in ${dir} again (its layout flags are kept from when it was created)\n`);
  } else {
    record = await planCluster(dir, flags);
  }
  for (const node of record.nodes) node.pid = spawnNode(node);
  writeRecord(dir, record);
  const endpoints = record.gateways.map((address) => `http://${address}`);
  const deadline = Date.now() + 60_000;
  for (const endpoint of endpoints) {
    while ((await listBuckets(endpoint, record.cluster)) !== 200) {
      const dead = record.nodes.filter((node) => !alive(node.pid));
      if (dead.length > 0) {
        process.stderr.write(`cluster start: ${dead.map((node) => `${node.name} exited (see ${node.log})`).join('; ')}\n`);
        return 1;
      }
      if (Date.now() > deadline) {
        process.stderr.write(`cluster start: ${endpoint} did not serve S3 within 60 s; logs in ${dir}/*/node.log\n`);
        return 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const protection = analyzeProtection({ level: record.cluster.level, drives: layoutDrives(record.cluster) }, record.cluster.scheme);
  const { k, m } = record.cluster.scheme;
  const zones = new Set(record.cluster.nodes.map((node) => node.zone)).size;
  const lines = [
    `Tessera local cluster (${record.nodes.length} nodes over ${zones} zone${zones === 1 ? '' : 's'}, ${describeGroups(record.cluster.meta)}, erasure ${k}+${m})`,
    ...endpoints.map((endpoint) => `  endpoint:    ${endpoint}`),
    `  access key:  ${record.cluster.root.accessKey}`,
    `  secret key:  ${record.cluster.root.secretKey}`,
    `  protection:  ${protection.status === 'ok' ? protection.report.sentence : protection.message}`,
    `  state:       ${dir} (tessera cluster status|stop --dir ${dir})`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function stop(flags: ReadonlyMap<string, string>): Promise<number> {
  const dir = path.resolve(flags.get('dir') ?? './cluster');
  const record = readRecord(dir);
  const running = record.nodes.filter((node) => alive(node.pid));
  for (const node of running) process.kill(node.pid!, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (running.some((node) => alive(node.pid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const node of running.filter((candidate) => alive(candidate.pid))) process.kill(node.pid!, 'SIGKILL');
  for (const node of record.nodes) node.pid = undefined;
  writeRecord(dir, record);
  process.stdout.write(`Stopped ${running.length} node process${running.length === 1 ? '' : 'es'} of the cluster in ${dir}\n`);
  return 0;
}

function describeGroups(meta: readonly (readonly string[])[]): string {
  const sizes = [...new Set(meta.map((replicas) => replicas.length))];
  const groups = `${meta.length} metadata group${meta.length === 1 ? '' : 's'}`;
  return sizes.length === 1 ? `${groups} of ${sizes[0]} replica${sizes[0] === 1 ? '' : 's'}` : groups;
}

/** Asks the replicas of one group in turn; the first that answers as primary wins. Undefined when none does. */
async function queryGroup(transport: TcpTransport, replicas: readonly string[], query: Record<string, unknown>): Promise<{ readonly result: unknown } | undefined> {
  for (const address of replicas) {
    try {
      const reply = decodeRecord(await transport.request('status', address, encodeRecord({ type: 'query', query }))) as { ok: boolean; result?: unknown };
      if (reply.ok) return { result: reply.result };
    } catch {
      // Try the next replica.
    }
  }
  return undefined;
}

/**
 * The METADATA GROUP sections of `cluster status`: per group its slots and
 * buckets and every replica's node, address and state (PRIMARY marked), then
 * the partition table. Groups are the map's when it could be read.
 */
async function groupLines(transport: TcpTransport, record: ClusterRecord, map: ClusterMapRecord | undefined): Promise<string[]> {
  const groups = map?.metaGroups.map((entry) => entry.replicas) ?? record.cluster.meta;
  const table = map === undefined ? undefined : partitionTableOf(map);
  const slots = table === undefined ? undefined : slotsPerGroup(table, groups.length);
  const hostOf = (group: number, replicaIndex: number): string =>
    record.nodes.find((node) => node.meta?.some((role) => role.group === group && role.replicaIndex === replicaIndex))?.name ?? '-';
  const lines: string[] = [];
  for (const [group, replicas] of groups.entries()) {
    const buckets = (await queryGroup(transport, replicas, { type: 'list_buckets' })) as { readonly result: BucketRecord[] } | undefined;
    const holds = [
      ...(group === 0 ? ['root: cluster map, users and keys'] : []),
      ...(slots === undefined || table === undefined ? [] : [`${slots[group]} of ${table.slots.length} slots`]),
      buckets === undefined ? 'buckets unknown' : `${buckets.result.length} bucket${buckets.result.length === 1 ? '' : 's'}`,
    ];
    lines.push('', `METADATA GROUP ${group} (${holds.join('; ')})`);
    for (const [index, address] of replicas.entries()) {
      let state = 'unreachable';
      try {
        const reply = decodeRecord(await transport.request('status', address, encodeRecord({ type: 'status' }))) as {
          status: string;
          view: number;
          primaryIndex: number;
          commitNumber: number;
        };
        state = `${reply.status}, view ${reply.view}, commit ${reply.commitNumber}${reply.primaryIndex === index ? ', PRIMARY' : ''}`;
      } catch {
        // Down or not answering: shown as unreachable.
      }
      lines.push(`  replica ${index} ${hostOf(group, index).padEnd(9)} ${address.padEnd(21)} ${state}`);
    }
  }
  if (table !== undefined && slots !== undefined) {
    lines.push('', `PARTITION TABLE: ${table.slots.length} slots by SHA-256 of the bucket name; ${slots.map((count, group) => `group ${group}: ${count}`).join(', ')}`);
  }
  return lines;
}

function gigabytes(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
}

async function status(flags: ReadonlyMap<string, string>): Promise<number> {
  const dir = path.resolve(flags.get('dir') ?? './cluster');
  const record = readRecord(dir);
  const { cluster } = record;
  const transport = new TcpTransport({ clusterSecret: cluster.secret, requestTimeoutMs: 2000, connectTimeoutMs: 1000 });
  const env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
  const blobOfDrive = new Map(cluster.nodes.flatMap((node) => node.drives.map((drive) => [drive.id, node.blob ?? ''] as const)));
  const blob = new RemoteBlobClient(env, { localAddress: 'status', addressOf: (driveId) => blobOfDrive.get(driveId) ?? '', requestTimeoutMs: 2000 });
  /** Fragments left on a drive being emptied (counted up to a bound), or why they cannot be counted. */
  const fragmentsLeft = async (driveId: number): Promise<string> => {
    const countMax = 100_000;
    let count = 0;
    try {
      for await (const _id of blob.list(driveId)) {
        if (++count >= countMax) return `≥ ${countMax} fragments left`;
      }
    } catch (error) {
      return `fragments not countable: ${error instanceof Error ? error.message : String(error)}`;
    }
    return count === 0 ? 'drained' : `${count} fragment${count === 1 ? '' : 's'} left`;
  };
  const lines: string[] = [];
  let free = 0;
  let total = 0;
  try {
    lines.push(`Cluster in ${dir}: ${cluster.nodes.length} nodes, erasure ${cluster.scheme.k}+${cluster.scheme.m}, failure domain: ${cluster.level}`);
    // The map in the root group says which drives are draining or failed.
    const read = (await queryGroup(transport, cluster.meta[0]!, { type: 'get_cluster_map' })) as { readonly result: ClusterMapRecord | undefined } | undefined;
    const map = read?.result;
    const mapLine =
      read === undefined
        ? 'CLUSTER MAP: not readable (no primary answered)'
        : map === undefined
          ? 'CLUSTER MAP: not installed yet'
          : `CLUSTER MAP: epoch ${map.epoch}, ${map.nodes.length} nodes (in metadata group 0)`;
    const mapState = new Map(map?.nodes.flatMap((node) => node.drives.map((drive) => [drive.id, drive.state] as const)) ?? []);
    const marked = (driveId: number): string => (mapState.get(driveId) ?? 'active') === 'active' ? '' : ` (${mapState.get(driveId)})`;
    const draining = async (driveId: number): Promise<string> => ((mapState.get(driveId) ?? 'active') === 'active' ? '' : `${marked(driveId)} ${await fragmentsLeft(driveId)},`);
    lines.push('', 'NODE      ZONE     RACK     PROCESS   ROLES              DRIVES');
    for (const [index, node] of cluster.nodes.entries()) {
      const processRecord = record.nodes[index]!;
      const up = alive(processRecord.pid);
      let drives = '-';
      if (node.blob !== undefined && up) {
        try {
          const report = await blob.status(node.blob);
          const described = [];
          for (const drive of report.drives) described.push(`${drive.driveId}:${drive.health}${await draining(drive.driveId)} ${gigabytes(drive.freeBytes)} free of ${gigabytes(drive.totalBytes)}`);
          drives = described.join(', ');
          for (const drive of report.drives) {
            free += drive.freeBytes;
            total += drive.totalBytes;
          }
        } catch (error) {
          drives = `unreachable (${error instanceof Error ? error.message : String(error)})`;
        }
      } else if (!up) {
        drives = node.drives.map((drive) => `${drive.id}:down${marked(drive.id)}`).join(', ');
      }
      const state = up ? `up ${processRecord.pid}` : 'down';
      lines.push(`${node.name.padEnd(9)} ${node.zone.padEnd(8)} ${node.rack.padEnd(8)} ${state.padEnd(9)} ${processRecord.roles.join(',').padEnd(18)} ${drives}`);
    }
    lines.push(...(await groupLines(transport, record, map)));
    lines.push(mapLine);
    lines.push('', `GATEWAYS: ${record.gateways.map((address) => `http://${address}`).join(', ')}`);
    lines.push(`CAPACITY: ${gigabytes(free)} free of ${gigabytes(total)} (raw, reachable drives)`);
    const protection = analyzeProtection({ level: cluster.level, drives: layoutDrives(cluster) }, cluster.scheme);
    lines.push(`PROTECTION: ${protection.status === 'ok' ? protection.report.sentence : protection.message}`);
  } finally {
    await transport.close();
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** Sets the state of some drives in a new epoch of the cluster map (refused if the scheme could no longer be placed). */
async function drive(flags: ReadonlyMap<string, string>): Promise<number> {
  const dir = path.resolve(flags.get('dir') ?? './cluster');
  const record = readRecord(dir);
  const raw = flags.get('state');
  if (raw !== 'active' && raw !== 'draining' && raw !== 'failed') throw new ConfigError('--state must be active, draining or failed');
  const state: DriveState = raw;
  const nodeName = flags.get('node');
  const driveId = flags.get('drive') === undefined ? undefined : Number(flags.get('drive'));
  if ((nodeName === undefined) === (driveId === undefined)) throw new ConfigError('name either --node NAME or --drive ID');
  const transport = new TcpTransport({ clusterSecret: record.cluster.secret });
  const env = { clock: new NodeClock(), random: new NodeRandom(), disk: new NodeDisk(), transport, faults: noFaults, logger: silentLogger };
  const meta = new RemoteMetaClient(env, { localAddress: 'cli', replicas: record.cluster.meta[0]! });
  try {
    const current = await meta.getClusterMap();
    if (current === undefined) throw new ConfigError('the cluster map is not installed yet (no gateway has started)');
    const nodes = current.nodes.map((node) => ({
      ...node,
      drives: node.drives.map((entry) => (node.name === nodeName || entry.id === driveId ? { ...entry, state } : entry)),
    }));
    const changed = nodes.flatMap((node) => node.drives).filter((entry, index) => entry.state !== current.nodes.flatMap((node) => node.drives)[index]!.state);
    if (!nodes.some((node) => node.name === nodeName) && !nodes.some((node) => node.drives.some((entry) => entry.id === driveId))) {
      throw new ConfigError(`no ${nodeName === undefined ? `drive ${driveId}` : `node "${nodeName}"`} in the cluster map`);
    }
    const plan = planPlacement({ level: current.level, drives: layoutDrives({ nodes }) }, current.scheme);
    if (plan.status !== 'ok') throw new ConfigError(`refused: with that change ${plan.message}`);
    const next = { ...current, epoch: current.epoch + 1, nodes };
    const result = await meta.submit({ type: 'set_cluster_map', map: next });
    if (result.status !== 'ok') throw new ConfigError(`the map changed meanwhile (${result.status}); try again`);
    process.stdout.write(`cluster map epoch ${next.epoch}: ${changed.length} drive(s) now ${state} (${changed.map((entry) => entry.id).join(', ') || 'no change'})\n`);
    return 0;
  } finally {
    meta.close();
    await transport.close();
  }
}

/** Returns the exit code. */
export async function clusterCommand(argv: readonly string[]): Promise<number> {
  const [action, ...rest] = argv;
  const flags = parseFlags(rest);
  switch (action) {
    case 'start':
      return start(flags);
    case 'status':
      return status(flags);
    case 'stop':
      return stop(flags);
    case 'drive':
      return drive(flags);
    default:
      throw new ConfigError(`tessera cluster: unknown action "${action ?? ''}" (start, status, stop or drive)`);
  }
}
