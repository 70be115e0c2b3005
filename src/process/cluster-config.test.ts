// Node config parsing: a whole YAML config (as `tessera cluster start` writes
// it) and JSON read the same; every bad field is refused with a message that
// names it, before a node starts. Metadata groups: a list of groups, or the
// flat list of one group that configs from before partitioning hold; a node
// runs replicas of several groups; the first map carries the partition table.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { groupOfBucket } from '../meta/partition-table.js';
import { NodeConfigError, initialClusterMap, layoutDrives, parseNodeConfig } from './cluster-config.js';

function config(overrides: { cluster?: Record<string, unknown>; node?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    cluster: {
      secret: 'a-cluster-secret-of-32-characters',
      scheme: { k: 4, m: 2 },
      level: 'zone',
      root: { accessKey: 'TSROOT', secretKey: 'root-secret' },
      meta: ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'],
      nodes: [0, 1, 2].map((index) => ({
        name: `node-${index}`,
        zone: `zone-${index}`,
        rack: `rack-${index}`,
        blob: `127.0.0.1:710${index}`,
        drives: [{ id: index * 2, weight: 1 }, { id: index * 2 + 1 }],
      })),
      ...overrides.cluster,
    },
    node: { name: 'node-0', dataDir: '/tmp/node-0', roles: { meta: { replicaIndex: 0 }, blob: true, gateway: { address: '127.0.0.1:9000', workers: true } }, ...overrides.node },
  };
}

function refused(value: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => parseNodeConfig(stringify(value)), (error: unknown) => error instanceof NodeConfigError && message.test(error.message));
}

describe('parseNodeConfig', () => {
  it('reads a whole config, YAML or JSON alike, with defaults filled in', () => {
    const fromYaml = parseNodeConfig(stringify(config()));
    const fromJson = parseNodeConfig(JSON.stringify(config()));
    assert.deepEqual(fromYaml, fromJson);
    assert.deepEqual(fromYaml.roles, {
      meta: [{ group: 0, replicaIndex: 0, replacement: false }],
      blob: true,
      gateway: { host: '127.0.0.1', port: 9000, workers: true, workerIntervalMs: 30_000, gcGraceMs: 60_000, orphanSweepIntervalMs: 600_000, orphanGraceMs: 3_600_000 },
    });
    const quick = parseNodeConfig(
      stringify(config({ node: { roles: { gateway: { address: '127.0.0.1:9000', workers: true, workerIntervalMs: 250, gcGraceMs: 0, orphanSweepIntervalMs: 100, orphanGraceMs: 500 } } } })),
    );
    assert.deepEqual(
      [quick.roles.gateway?.workerIntervalMs, quick.roles.gateway?.gcGraceMs, quick.roles.gateway?.orphanSweepIntervalMs, quick.roles.gateway?.orphanGraceMs],
      [250, 0, 100, 500],
    );
    const longGc = parseNodeConfig(stringify(config({ node: { roles: { gateway: { address: '127.0.0.1:9000', gcGraceMs: 7_200_000, orphanSweepIntervalMs: 0 } } } })));
    assert.deepEqual([longGc.roles.gateway?.orphanGraceMs, longGc.roles.gateway?.orphanSweepIntervalMs], [7_200_000, 0], 'the orphan grace defaults to at least GC\'s');
    assert.deepEqual(fromYaml.cluster.scheme, { k: 4, m: 2 });
    assert.equal(fromYaml.cluster.nodes[0]!.drives[1]!.weight, 1, 'weight defaults to 1');
    assert.equal(fromYaml.logLevel, 'info');
    assert.deepEqual(layoutDrives(fromYaml.cluster).map((drive) => [drive.id, drive.zone, drive.node]).slice(0, 3), [
      [0, 'zone-0', 'node-0'],
      [1, 'zone-0', 'node-0'],
      [2, 'zone-1', 'node-1'],
    ]);
    assert.deepEqual(parseNodeConfig(stringify(config({ cluster: { scheme: '6+3' } }))).cluster.scheme, { k: 6, m: 3 });
    assert.deepEqual(parseNodeConfig(stringify(config({ node: { roles: { meta: { replicaIndex: 2, replacement: true } } } }))).roles.meta, [
      { group: 0, replicaIndex: 2, replacement: true },
    ]);
  });

  it('reads several metadata groups, a node running replicas of several, and the old one-group format as one group', () => {
    const groups = [
      ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'],
      ['127.0.0.1:7011', '127.0.0.1:7012', '127.0.0.1:7013'],
    ];
    const parsed = parseNodeConfig(
      stringify(config({ cluster: { meta: groups }, node: { roles: { meta: [{ group: 1, replicaIndex: 2 }, { group: 0, replicaIndex: 0, replacement: true }] } } })),
    );
    assert.deepEqual(parsed.cluster.meta, groups);
    assert.equal(parsed.cluster.partitionSlots, 64);
    assert.deepEqual(parsed.roles.meta, [
      { group: 1, replicaIndex: 2, replacement: false },
      { group: 0, replicaIndex: 0, replacement: true },
    ]);
    const legacy = parseNodeConfig(stringify(config()));
    assert.deepEqual(legacy.cluster.meta, [['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003']], 'a flat list is one group');
    // The first map: both groups, 64 slots dealt alternately.
    const map = initialClusterMap(parsed.cluster);
    assert.deepEqual(map.metaGroups, groups.map((replicas, group) => ({ group, replicas })));
    assert.equal(map.partitions?.slots.length, 64);
    assert.deepEqual(map.partitions?.slots.slice(0, 4), [0, 1, 0, 1]);
    assert.equal(groupOfBucket(map.partitions!, 'photos'), 1, 'pinned in meta/partition-table.test.ts: slot 33');
    assert.equal(initialClusterMap(parseNodeConfig(stringify(config({ cluster: { meta: groups, partitionSlots: 8 } }))).cluster).partitions?.slots.length, 8);
    assert.deepEqual(initialClusterMap(legacy.cluster).partitions?.slots, Array.from({ length: 64 }, () => 0));
  });

  it('refuses bad fields, naming them', () => {
    refused(config({ cluster: { secret: 'short' } }), /cluster\.secret: must be at least 16 characters/);
    refused(config({ cluster: { level: 'planet' } }), /cluster\.level: must be one of drive, node, rack, zone/);
    refused(config({ cluster: { meta: ['127.0.0.1:7001', '127.0.0.1:7002'] } }), /cluster\.meta: must list 1, 3 or 5/);
    refused(config({ cluster: { meta: ['localhost', '127.0.0.1:7002', '127.0.0.1:7003'] } }), /cluster\.meta\[0\]: "localhost" is not host:port/);
    refused(config({ cluster: { scheme: '4-2' } }), /cluster\.scheme: "4-2" is not K\+M/);
    refused(config({ cluster: { scheme: { k: 30, m: 2 } } }), /cluster\.scheme\.k: must be an integer in 1\.\.24/);
    const duplicateDrive = config();
    const nodes = (duplicateDrive.cluster as { nodes: { drives: { id: number }[] }[] }).nodes;
    nodes[1]!.drives[0]!.id = 0;
    refused(duplicateDrive, /drive 0 is listed twice/);
    refused(config({ node: { roles: {} } }), /node\.roles: names no role/);
    refused(config({ node: { name: 'node-9', roles: { blob: true } } }), /node\.roles\.blob: node "node-9" has no drives/);
    refused(config({ node: { roles: { meta: { replicaIndex: 3 } } } }), /node\.roles\.meta\.replicaIndex: must be an integer in 0\.\.2/);
    refused(config({ node: { logLevel: 'loud' } }), /node\.logLevel/);
    const two = [
      ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'],
      ['127.0.0.1:7011', '127.0.0.1:7012', '127.0.0.1:7013'],
    ];
    refused(config({ cluster: { meta: [two[0], ['127.0.0.1:7011', '127.0.0.1:7012']] } }), /cluster\.meta\[1\]: must list 1, 3 or 5/);
    refused(config({ cluster: { meta: [two[0], '127.0.0.1:7011'] } }), /cluster\.meta\[1\]: must be a list/);
    refused(config({ cluster: { meta: [] } }), /cluster\.meta: must list 1\.\.64 metadata groups/);
    refused(config({ cluster: { meta: [two[0], ['127.0.0.1:7011', '127.0.0.1:7002', '127.0.0.1:7013']] } }), /cluster\.meta\[1\]\[1\]: "127\.0\.0\.1:7002" is also cluster\.meta\[0\]\[1\]/);
    refused(config({ cluster: { meta: ['127.0.0.1:7100', '127.0.0.1:7002', '127.0.0.1:7003'] } }), /cluster\.nodes\[0\]\.blob: "127\.0\.0\.1:7100" is a metadata replica's address/);
    refused(config({ cluster: { meta: two, partitionSlots: 1 } }), /cluster\.partitionSlots: must be an integer in 2\.\.4096/);
    refused(config({ cluster: { meta: two }, node: { roles: { meta: [{ group: 2, replicaIndex: 0 }] } } }), /node\.roles\.meta\[0\]\.group: must be an integer in 0\.\.1/);
    refused(config({ cluster: { meta: two }, node: { roles: { meta: [{ replicaIndex: 0 }] } } }), /node\.roles\.meta\[0\]\.group: must be an integer/);
    refused(
      config({ cluster: { meta: two }, node: { roles: { meta: [{ group: 1, replicaIndex: 0 }, { group: 1, replicaIndex: 1 }] } } }),
      /node\.roles\.meta\[1\]\.group: group 1 is named twice/,
    );
    refused(config({ cluster: { meta: two }, node: { roles: { meta: [{ group: 1, replicaIndex: 3 }] } } }), /node\.roles\.meta\[0\]\.replicaIndex: must be an integer in 0\.\.2/);
    refused(config({ node: { roles: { meta: [] } } }), /node\.roles\.meta: must name at least one replica/);
    refused(config({ node: { roles: { gateway: { address: '127.0.0.1:9000', workerIntervalMs: 0 } } } }), /node\.roles\.gateway\.workerIntervalMs: must be an integer in 10\.\.3600000/);
    refused(config({ node: { roles: { gateway: { address: '127.0.0.1:9000', orphanSweepIntervalMs: 5 } } } }), /orphanSweepIntervalMs: must be 0 \(off\) or at least 10/);
    refused(config({ node: { roles: { gateway: { address: '127.0.0.1:9000', gcGraceMs: 60_000, orphanGraceMs: 1000 } } } }), /orphanGraceMs: 1000 is less than gcGraceMs 60000/);
    assert.throws(() => parseNodeConfig('cluster: [unclosed'), /not valid YAML or JSON/);
  });
});
