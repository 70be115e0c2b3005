// The configuration of one cluster node (`tessera node --config node.yaml`):
// the cluster as every node sees it (secret, erasure scheme, failure-domain
// level, the metadata groups' replica addresses and the partition slot count,
// every node's zone, rack, blob address and drives: the seed list until
// object-storage bootstrap exists) and this node's own roles (replicas of
// metadata groups, blob, gateway). YAML or JSON; every field is checked here
// with a message that names it. Configs written before partitioning (a flat
// `cluster.meta` list, one `roles.meta` mapping) still read: one group.

import { parse as parseYaml } from 'yaml';
import { balancedPartitionTable, partitionSlotsDefault, partitionSlotsMax } from '../meta/partition-table.js';
import type { ClusterMapRecord } from '../meta/records.js';
import type { DriveState, FailureDomainLevel, LayoutDrive, Scheme } from '../placement/layout.js';
import { failureDomainLevels } from '../placement/layout.js';

export interface DriveSpec {
  readonly id: number;
  readonly weight: number;
}

export interface NodeSpec {
  readonly name: string;
  readonly zone: string;
  readonly rack: string;
  /** The blob service address ("host:port"), when the node serves drives. */
  readonly blob?: string;
  readonly drives: readonly DriveSpec[];
}

export interface ClusterSpec {
  /** Shared by every node; authenticates the node-to-node transport. At least 16 characters. */
  readonly secret: string;
  readonly scheme: Scheme;
  /** No domain at this level holds more than m shards of a part. */
  readonly level: FailureDomainLevel;
  /** Root S3 credentials. */
  readonly root: { readonly accessKey: string; readonly secretKey: string };
  /** The metadata groups (group 0, the root group, first), each its replica addresses by replica index. */
  readonly meta: readonly (readonly string[])[];
  /** Slots of the partition table (bucket → slot → group), fixed when the cluster is created. */
  readonly partitionSlots: number;
  readonly nodes: readonly NodeSpec[];
}

/** One metadata replica a node runs. */
export interface MetaReplicaRole {
  readonly group: number;
  /** Its index in the group (it listens at cluster.meta[group][replicaIndex]). */
  readonly replicaIndex: number;
  /** Its disk was lost and this is an empty one (it learns the view from the others before it votes). */
  readonly replacement: boolean;
}

export interface NodeRoles {
  /** The metadata replicas this node runs, at most one per group, each with its own store and address. */
  readonly meta?: readonly MetaReplicaRole[];
  /** This node serves its drives (cluster.nodes entry with this name) at its blob address. */
  readonly blob?: boolean;
  /**
   * This node serves S3; `workers` also runs the janitor, GC and the
   * healer/rebalancer (one gateway per cluster should), a pass every
   * `workerIntervalMs` (default 30 s); GC deletes fragments `gcGraceMs` (default
   * 60 s) after they became garbage. With `workers`, the orphan sweep
   * (workers/cluster-orphan-sweep.ts) runs a pass every `orphanSweepIntervalMs`
   * (default 10 min; 0: off) and deletes a fragment no metadata references
   * once it has been so for `orphanGraceMs` (default 1 h, and never less
   * than `gcGraceMs`: the sweep must not delete garbage before GC would).
   */
  readonly gateway?: {
    readonly host: string;
    readonly port: number;
    readonly workers: boolean;
    readonly workerIntervalMs: number;
    readonly gcGraceMs: number;
    readonly orphanSweepIntervalMs: number;
    readonly orphanGraceMs: number;
  };
}

export interface NodeConfig {
  readonly cluster: ClusterSpec;
  readonly name: string;
  readonly dataDir: string;
  readonly roles: NodeRoles;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export class NodeConfigError extends Error {
  override readonly name = 'NodeConfigError';
}

type Json = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new NodeConfigError(`${where}: ${message}`);
}

function object(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'must be a mapping');
  return value as Json;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(where, 'must be a non-empty string');
  return value;
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(where, `must be an integer in ${min}..${max}`);
  return value;
}

function address(value: unknown, where: string): string {
  const raw = text(value, where);
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(raw) || Number(raw.split(':')[1]) > 65535) fail(where, `"${raw}" is not host:port`);
  return raw;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) fail(where, 'must be a list');
  return value;
}

function parseScheme(value: unknown, where: string): Scheme {
  if (typeof value === 'string') {
    const match = /^(\d+)\+(\d+)$/.exec(value);
    if (match === null) fail(where, `"${value}" is not K+M`);
    return { k: integer(Number(match[1]), `${where} k`, 1, 24), m: integer(Number(match[2]), `${where} m`, 0, 6) };
  }
  const scheme = object(value, where);
  return { k: integer(scheme.k, `${where}.k`, 1, 24), m: integer(scheme.m, `${where}.m`, 0, 6) };
}

function parseCluster(value: unknown): ClusterSpec {
  const cluster = object(value, 'cluster');
  const secret = text(cluster.secret, 'cluster.secret');
  if (secret.length < 16) fail('cluster.secret', 'must be at least 16 characters');
  const level = text(cluster.level ?? 'node', 'cluster.level');
  if (!(failureDomainLevels as readonly string[]).includes(level)) fail('cluster.level', `must be one of ${failureDomainLevels.join(', ')}`);
  const root = object(cluster.root, 'cluster.root');
  const meta = parseMetaGroups(cluster.meta);
  const partitionSlots = integer(cluster.partitionSlots ?? Math.max(partitionSlotsDefault, meta.length), 'cluster.partitionSlots', meta.length, partitionSlotsMax);
  const driveIds = new Set<number>();
  const names = new Set<string>();
  const nodes = list(cluster.nodes, 'cluster.nodes').map((entry, index): NodeSpec => {
    const where = `cluster.nodes[${index}]`;
    const node = object(entry, where);
    const name = text(node.name, `${where}.name`);
    if (names.has(name)) fail(`${where}.name`, `"${name}" is listed twice`);
    names.add(name);
    const drives = list(node.drives ?? [], `${where}.drives`).map((drive, driveIndex): DriveSpec => {
      const spec = object(drive, `${where}.drives[${driveIndex}]`);
      const id = integer(spec.id, `${where}.drives[${driveIndex}].id`, 0, 1_000_000);
      if (driveIds.has(id)) fail(`${where}.drives[${driveIndex}].id`, `drive ${id} is listed twice in the cluster`);
      driveIds.add(id);
      const weight = spec.weight ?? 1;
      if (typeof weight !== 'number' || !(weight >= 0) || !Number.isFinite(weight)) fail(`${where}.drives[${driveIndex}].weight`, 'must be a number ≥ 0');
      return { id, weight };
    });
    const blob = node.blob === undefined ? undefined : address(node.blob, `${where}.blob`);
    if (drives.length > 0 && blob === undefined) fail(`${where}.blob`, 'a node with drives needs a blob address');
    return { name, zone: text(node.zone ?? name, `${where}.zone`), rack: text(node.rack ?? name, `${where}.rack`), ...(blob === undefined ? {} : { blob }), drives };
  });
  return {
    secret,
    scheme: parseScheme(cluster.scheme ?? '4+2', 'cluster.scheme'),
    level: level as FailureDomainLevel,
    root: { accessKey: text(root.accessKey, 'cluster.root.accessKey'), secretKey: text(root.secretKey, 'cluster.root.secretKey') },
    meta,
    partitionSlots,
    nodes: noSharedAddresses(nodes, meta),
  };
}

/** The most metadata groups a cluster may have. */
export const metaGroupsMax = 64;

function parseMetaGroup(value: unknown, where: string): string[] {
  const replicas = list(value, where).map((entry, index) => address(entry, `${where}[${index}]`));
  if (replicas.length === 0 || replicas.length % 2 === 0 || replicas.length > 5) fail(where, 'must list 1, 3 or 5 replica addresses');
  return replicas;
}

/** A list of groups, each a list of replica addresses; a flat list of addresses (the format before partitioning) is one group. */
function parseMetaGroups(value: unknown): string[][] {
  const entries = list(value, 'cluster.meta');
  const flat = entries.length > 0 && entries.every((entry) => typeof entry === 'string');
  const groups = flat ? [parseMetaGroup(entries, 'cluster.meta')] : entries.map((entry, group) => parseMetaGroup(entry, `cluster.meta[${group}]`));
  if (groups.length === 0 || groups.length > metaGroupsMax) fail('cluster.meta', `must list 1..${metaGroupsMax} metadata groups`);
  const seen = new Map<string, string>();
  groups.forEach((replicas, group) => {
    replicas.forEach((replica, index) => {
      const where = flat ? `cluster.meta[${index}]` : `cluster.meta[${group}][${index}]`;
      const first = seen.get(replica);
      if (first !== undefined) fail(where, `"${replica}" is also ${first}: every replica listens at its own address`);
      seen.set(replica, where);
    });
  });
  return groups;
}

/** Refuses a blob address that a metadata replica also listens at. */
function noSharedAddresses(nodes: NodeSpec[], meta: readonly (readonly string[])[]): NodeSpec[] {
  const replicas = new Set(meta.flat());
  nodes.forEach((node, index) => {
    if (node.blob !== undefined && replicas.has(node.blob)) fail(`cluster.nodes[${index}].blob`, `"${node.blob}" is a metadata replica's address`);
  });
  return nodes;
}

/** `node.roles.meta`: a list of {group, replicaIndex, replacement}; one mapping without `group` (the format before partitioning) is group 0. */
function parseMetaRoles(value: unknown, cluster: ClusterSpec): MetaReplicaRole[] {
  const legacy = typeof value === 'object' && value !== null && !Array.isArray(value);
  const entries = legacy ? [value] : list(value, 'node.roles.meta');
  if (entries.length === 0) fail('node.roles.meta', 'must name at least one replica (or leave the role out)');
  const groups = new Set<number>();
  return entries.map((entry, index): MetaReplicaRole => {
    const where = legacy ? 'node.roles.meta' : `node.roles.meta[${index}]`;
    const role = object(entry, where);
    const group = legacy && role.group === undefined ? 0 : integer(role.group, `${where}.group`, 0, cluster.meta.length - 1);
    if (groups.has(group)) fail(`${where}.group`, `group ${group} is named twice: a node runs at most one replica of a group`);
    groups.add(group);
    const replicaIndex = integer(role.replicaIndex, `${where}.replicaIndex`, 0, cluster.meta[group]!.length - 1);
    return { group, replicaIndex, replacement: role.replacement === true };
  });
}

/** Parses a node config (YAML or JSON text). */
export function parseNodeConfig(source: string): NodeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(source);
  } catch (error) {
    throw new NodeConfigError(`not valid YAML or JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const config = object(raw, 'config');
  const cluster = parseCluster(config.cluster);
  const node = object(config.node, 'node');
  const name = text(node.name, 'node.name');
  const spec = cluster.nodes.find((candidate) => candidate.name === name);
  const roles = object(node.roles ?? {}, 'node.roles');
  const result: { meta?: MetaReplicaRole[]; blob?: boolean; gateway?: NonNullable<NodeRoles['gateway']> } = {};
  if (roles.meta !== undefined) result.meta = parseMetaRoles(roles.meta, cluster);
  if (roles.blob === true) {
    if (spec === undefined || spec.drives.length === 0) fail('node.roles.blob', `node "${name}" has no drives in cluster.nodes`);
    result.blob = true;
  }
  if (roles.gateway !== undefined) {
    const gateway = object(roles.gateway, 'node.roles.gateway');
    const [host, port] = address(gateway.address, 'node.roles.gateway.address').split(':');
    const gcGraceMs = integer(gateway.gcGraceMs ?? 60_000, 'node.roles.gateway.gcGraceMs', 0, 86_400_000);
    const orphanSweepIntervalMs = integer(gateway.orphanSweepIntervalMs ?? 600_000, 'node.roles.gateway.orphanSweepIntervalMs', 0, 86_400_000);
    if (orphanSweepIntervalMs > 0 && orphanSweepIntervalMs < 10) fail('node.roles.gateway.orphanSweepIntervalMs', 'must be 0 (off) or at least 10');
    const orphanGraceMs = integer(gateway.orphanGraceMs ?? Math.max(3_600_000, gcGraceMs), 'node.roles.gateway.orphanGraceMs', 0, 7 * 86_400_000);
    if (orphanGraceMs < gcGraceMs) fail('node.roles.gateway.orphanGraceMs', `${orphanGraceMs} is less than gcGraceMs ${gcGraceMs}: the sweep would delete garbage before GC's grace ends`);
    result.gateway = {
      host: host!,
      port: Number(port),
      workers: gateway.workers === true,
      workerIntervalMs: integer(gateway.workerIntervalMs ?? 30_000, 'node.roles.gateway.workerIntervalMs', 10, 3_600_000),
      gcGraceMs,
      orphanSweepIntervalMs,
      orphanGraceMs,
    };
  }
  if (result.meta === undefined && result.blob !== true && result.gateway === undefined) fail('node.roles', 'names no role (meta, blob, gateway)');
  const logLevel = text(node.logLevel ?? 'info', 'node.logLevel');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) fail('node.logLevel', 'must be debug, info, warn or error');
  return { cluster, name, dataDir: text(node.dataDir, 'node.dataDir'), roles: result, logLevel: logLevel as NodeConfig['logLevel'] };
}

/** The placement layout of the cluster: every drive with its failure-domain path (drives are active unless a map says otherwise). */
export function layoutDrives(cluster: { readonly nodes: readonly (Omit<NodeSpec, 'drives'> & { readonly drives: readonly (DriveSpec & { readonly state?: DriveState })[] })[] }): LayoutDrive[] {
  return cluster.nodes.flatMap((node) =>
    node.drives.map((drive) => ({ id: drive.id, weight: drive.weight, state: drive.state ?? ('active' as const), zone: node.zone, rack: node.rack, node: node.name })),
  );
}

/** The first cluster map, built from the config's seed list (epoch 1), with its partition table: slots dealt round-robin over the groups. */
export function initialClusterMap(cluster: ClusterSpec): ClusterMapRecord {
  return {
    epoch: 1,
    scheme: cluster.scheme,
    level: cluster.level,
    nodes: cluster.nodes.map((node) => ({
      name: node.name,
      zone: node.zone,
      rack: node.rack,
      ...(node.blob === undefined ? {} : { blob: node.blob }),
      drives: node.drives.map((drive) => ({ id: drive.id, weight: drive.weight, state: 'active' as const })),
    })),
    metaGroups: cluster.meta.map((replicas, group) => ({ group, replicas })),
    partitions: balancedPartitionTable(cluster.partitionSlots, cluster.meta.length),
  };
}
