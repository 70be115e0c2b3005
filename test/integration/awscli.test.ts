// The real AWS CLI (Debian's awscli, installed by .ci/run) against the
// embedded server: a 40 MiB file up and down (multipart is not implemented
// yet, so the CLI's multipart threshold is raised above it) and a folder sync,
// byte-identical both ways.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger } from '../../src/io/logger.js';
import { startEmbeddedServer } from '../../src/process/embedded-server.js';
import type { EmbeddedServer } from '../../src/process/embedded-server.js';

const run = promisify(execFile);

async function hasAws(): Promise<boolean> {
  try {
    await run('aws', ['--version']);
    return true;
  } catch {
    return false;
  }
}

const awsAvailable = await hasAws();
// In CI the CLI must be there (.ci/run installs it): missing it is a failure, not a skip.
const skip = !awsAvailable && process.env.CI !== 'true' ? 'awscli not installed (apt-get install awscli)' : false;

let server: EmbeddedServer;
let workDir: string;
let awsEnv: NodeJS.ProcessEnv;

before(async () => {
  if (skip !== false) return;
  workDir = mkdtempSync(join(tmpdir(), 'tessera-awscli-'));
  server = await startEmbeddedServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(workDir, 'data'),
    driveCount: 6,
    scheme: { k: 4, m: 2 },
    logger: silentLogger,
    root: { accessKeyId: 'AKIDAWSCLI', secretAccessKey: 'awscli/secret+key' },
  });
  const configFile = join(workDir, 'aws-config');
  writeFileSync(configFile, '[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 64MB\n  multipart_chunksize = 64MB\n');
  awsEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDAWSCLI',
    AWS_SECRET_ACCESS_KEY: 'awscli/secret+key',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
});

after(async () => {
  if (skip !== false) return;
  await server.close();
  rmSync(workDir, { recursive: true, force: true });
});

async function aws(...args: string[]): Promise<string> {
  const { stdout } = await run('aws', ['--endpoint-url', server.endpoint, ...args], { env: awsEnv, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

test('aws s3 cp: a 40 MiB file up and down is byte-identical', { skip }, async () => {
  const source = join(workDir, 'big.bin');
  const copy = join(workDir, 'big.copy');
  const content = randomBytes(40 * 1024 * 1024);
  writeFileSync(source, content);
  await aws('s3', 'mb', 's3://cli-bucket');
  await aws('s3', 'cp', source, 's3://cli-bucket/big.bin');
  await aws('s3', 'cp', 's3://cli-bucket/big.bin', copy);
  assert.ok(readFileSync(copy).equals(content));
  const listing = await aws('s3', 'ls', 's3://cli-bucket/');
  assert.match(listing, /41943040 big\.bin/);
});

test('aws s3 sync: a folder up and back down is identical', { skip }, async () => {
  const source = join(workDir, 'tree');
  const back = join(workDir, 'tree-back');
  const files = new Map<string, Buffer>();
  for (const [index, size] of [0, 1, 100, 70_000, 300_000, 2_000_000].entries()) {
    const name = index % 2 === 0 ? `top-${index}.dat` : join('nested', 'deeper', `file ${index}.dat`);
    files.set(name, randomBytes(size));
  }
  for (const [name, content] of files) {
    mkdirSync(join(source, name, '..'), { recursive: true });
    writeFileSync(join(source, name), content);
  }
  await aws('s3', 'mb', 's3://sync-bucket');
  await aws('s3', 'sync', source, 's3://sync-bucket/tree');
  await aws('s3', 'sync', 's3://sync-bucket/tree', back);
  for (const [name, content] of files) assert.ok(readFileSync(join(back, name)).equals(content), name);
  const second = await aws('s3', 'sync', source, 's3://sync-bucket/tree');
  assert.equal(second.trim(), '', 'a second sync uploads nothing');
  assert.deepEqual(readdirSync(back).sort(), readdirSync(source).sort());
});
