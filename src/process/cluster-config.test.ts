// Node config parsing: a whole YAML config (as `tessera cluster start` writes
// it) and JSON read the same; every bad field is refused with a message that
// names it, before a node starts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { NodeConfigError, layoutDrives, parseNodeConfig } from './cluster-config.js';

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
    assert.deepEqual(fromYaml.roles, { meta: { replicaIndex: 0, replacement: false }, blob: true, gateway: { host: '127.0.0.1', port: 9000, workers: true } });
    assert.deepEqual(fromYaml.cluster.scheme, { k: 4, m: 2 });
    assert.equal(fromYaml.cluster.nodes[0]!.drives[1]!.weight, 1, 'weight defaults to 1');
    assert.equal(fromYaml.logLevel, 'info');
    assert.deepEqual(layoutDrives(fromYaml.cluster).map((drive) => [drive.id, drive.zone, drive.node]).slice(0, 3), [
      [0, 'zone-0', 'node-0'],
      [1, 'zone-0', 'node-0'],
      [2, 'zone-1', 'node-1'],
    ]);
    assert.deepEqual(parseNodeConfig(stringify(config({ cluster: { scheme: '6+3' } }))).cluster.scheme, { k: 6, m: 3 });
    assert.equal(parseNodeConfig(stringify(config({ node: { roles: { meta: { replicaIndex: 2, replacement: true } } } }))).roles.meta?.replacement, true);
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
    assert.throws(() => parseNodeConfig('cluster: [unclosed'), /not valid YAML or JSON/);
  });
});
