// Keys and access over the wire (issue 3, item 5). Access keys are made,
// listed and deleted with the real `tessera admin key` CLI against an
// embedded server whose logger captures every line (no secret may appear in
// it). Then, with @aws-sdk/client-s3 for signed callers and undici's fetch for
// anonymous ones: bucket ownership and AccessDenied for other keys until a
// grant, object ownership by the writer, canned ACLs on PutObject,
// CreateBucket, CopyObject and CreateMultipartUpload, the AccessControlPolicy
// documents of GetBucketAcl / GetObjectAcl, and bucket and object tagging with
// S3's limits (InvalidTag) and copy directives.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketAclCommand,
  GetBucketTaggingCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Grant, S3Client, Tag } from '@aws-sdk/client-s3';
import { fetch } from 'undici';
import type { Headers } from 'undici';
import type { Logger } from '../../src/io/logger.js';
import { bodyOf, makeClient, patternBytes, rootCredentials, s3ErrorOf, sendSigned, startTestServer, xmlText } from '../helpers/server.js';
import type { TestCredentials, TestServer } from '../helpers/server.js';

const KiB = 1024;
const partBytesMin = 64 * KiB;
const allUsersUri = 'http://acs.amazonaws.com/groups/global/AllUsers';
const authenticatedUsersUri = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cliTimeoutMs = 30_000;
const logLinesMax = 100_000;

interface CreatedKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly userId: string;
  readonly displayName: string;
}

interface ListedKey {
  readonly accessKeyId: string;
  readonly displayName: string;
  readonly userId: string;
  readonly created: string;
}

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node bin/tessera.js admin key ARGS`, signed with `credentials` as root. */
function runAdmin(args: readonly string[], credentials: TestCredentials = rootCredentials): Promise<CliResult> {
  const child = spawn(process.execPath, ['bin/tessera.js', 'admin', 'key', ...args], {
    cwd: repoRoot,
    env: { ...process.env, TESSERA_ROOT_USER: credentials.accessKeyId, TESSERA_ROOT_PASSWORD: credentials.secretAccessKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera admin key ${args.join(' ')} did not finish in ${cliTimeoutMs} ms:\n${stdout}${stderr}`));
    }, cliTimeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Tags as the SDK returns them, as a plain object. */
function tagObject(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

function tagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** Grants as comparable strings: `CanonicalUser:<id>:<name>:PERMISSION` or `Group:<uri>:PERMISSION`. */
function grantSummary(grants: readonly Grant[] | undefined): string[] {
  return (grants ?? [])
    .map((grant) => {
      const grantee = grant.Grantee;
      const who = grantee?.Type === 'Group' ? `Group:${grantee.URI ?? ''}` : `${grantee?.Type ?? '?'}:${grantee?.ID ?? ''}:${grantee?.DisplayName ?? ''}`;
      return `${who}:${grant.Permission ?? ''}`;
    })
    .sort();
}

describe('s3 keys and access', () => {
  let t: TestServer;
  const logLines: string[] = [];
  const capturingLogger: Logger = {
    log(level, message, fields) {
      if (logLines.length < logLinesMax) logLines.push(JSON.stringify({ level, message, ...fields }));
    },
  };
  let rootId = '';
  let alice: CreatedKey;
  let aliceClient: S3Client;
  const secrets: string[] = [rootCredentials.secretAccessKey];

  async function createKey(name: string): Promise<CreatedKey> {
    const result = await runAdmin(['create', '--name', name, '--endpoint', t.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    const created = JSON.parse(result.stdout) as CreatedKey;
    secrets.push(created.secretAccessKey);
    return created;
  }

  async function listKeys(): Promise<{ keys: ListedKey[]; stdout: string }> {
    const result = await runAdmin(['list', '--endpoint', t.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    return { keys: JSON.parse(result.stdout) as ListedKey[], stdout: result.stdout };
  }

  /** An unsigned request, as a browser or curl sends it. */
  async function anonymous(method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: Headers }> {
    const response = await fetch(`${t.endpoint}${path}`, { method, ...(body === undefined ? {} : { body }) });
    return { status: response.status, body: await response.text(), headers: response.headers };
  }

  async function assertAnonymousDenied(method: string, path: string, body?: string): Promise<void> {
    const response = await anonymous(method, path, body);
    assert.equal(response.status, 403, `${method} ${path}: ${response.body}`);
    assert.equal(xmlText(response.body, 'Code'), 'AccessDenied', `${method} ${path}`);
  }

  before(async () => {
    t = await startTestServer('access', { logger: capturingLogger, partBytesMin });
    rootId = (await t.client.send(new ListBucketsCommand({}))).Owner?.ID ?? '';
    assert.match(rootId, /^[0-9a-f]{64}$/);
    alice = await createKey('alice');
    aliceClient = makeClient(t.endpoint, alice);
  });

  after(async () => {
    aliceClient.destroy();
    await t.close();
  });

  describe('tessera admin key', () => {
    it('create prints the new key as JSON, and the key works at once as its own account', async () => {
      assert.match(alice.accessKeyId, /^TK[A-Z2-7]{18}$/);
      assert.match(alice.secretAccessKey, /^[A-Za-z0-9]{40}$/);
      assert.match(alice.userId, /^[0-9a-f]{64}$/);
      assert.equal(alice.displayName, 'alice');
      assert.notEqual(alice.userId, rootId);
      const listed = await aliceClient.send(new ListBucketsCommand({}));
      assert.deepEqual(listed.Owner, { ID: alice.userId, DisplayName: 'alice' });
      assert.deepEqual(listed.Buckets ?? [], []);
    });

    it('each create makes a different key and account', async () => {
      const second = await createKey('alice');
      assert.notEqual(second.accessKeyId, alice.accessKeyId);
      assert.notEqual(second.secretAccessKey, alice.secretAccessKey);
      assert.notEqual(second.userId, alice.userId);
      const deleted = await runAdmin(['delete', second.accessKeyId, '--endpoint', t.endpoint]);
      assert.equal(deleted.code, 0, deleted.stderr);
    });

    it('list shows the key with its account and creation time, never the secret', async () => {
      const { keys, stdout } = await listKeys();
      const listed = keys.find((key) => key.accessKeyId === alice.accessKeyId);
      assert.ok(listed !== undefined, stdout);
      assert.deepEqual(Object.keys(listed).sort(), ['accessKeyId', 'created', 'displayName', 'userId']);
      assert.equal(listed.displayName, 'alice');
      assert.equal(listed.userId, alice.userId);
      assert.ok(Math.abs(Date.parse(listed.created) - Date.now()) < 10 * 60 * 1000, `created ${listed.created}`);
      assert.ok(!stdout.includes(alice.secretAccessKey), 'the secret must not be listed');
      assert.ok(!stdout.includes('secret'), stdout);
    });

    it('a name the server refuses: the CLI exits 1 with the S3 error, and no key is made', async () => {
      const before = (await listKeys()).keys.length;
      const result = await runAdmin(['create', '--name', 'no spaces allowed', '--endpoint', t.endpoint]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /400/);
      assert.match(result.stderr, /InvalidArgument/);
      assert.equal((await listKeys()).keys.length, before);
    });

    it('a non-root key calling the admin API: 403, through the CLI and signed by hand', async () => {
      const viaCli = await runAdmin(['list', '--endpoint', t.endpoint], alice);
      assert.equal(viaCli.code, 1);
      assert.match(viaCli.stderr, /403/);
      assert.match(viaCli.stderr, /AccessDenied/);
      const created = await runAdmin(['create', '--name', 'mallory', '--endpoint', t.endpoint], alice);
      assert.equal(created.code, 1);
      assert.match(created.stderr, /AccessDenied/);
      const deleted = await runAdmin(['delete', alice.accessKeyId, '--endpoint', t.endpoint], alice);
      assert.equal(deleted.code, 1);
      assert.match(deleted.stderr, /AccessDenied/);
      for (const method of ['GET', 'POST'] as const) {
        const signed = await sendSigned(t.port, { method, path: '/_tessera/admin/keys', ...(method === 'POST' ? { query: { name: 'mallory' } } : {}) }, { credentials: alice });
        assert.equal(signed.status, 403, `${method}: ${signed.body.toString()}`);
        assert.equal(xmlText(signed.body, 'Code'), 'AccessDenied');
      }
      const unsigned = await anonymous('GET', '/_tessera/admin/keys');
      assert.equal(unsigned.status, 403, unsigned.body);
      assert.ok(!(await listKeys()).keys.some((key) => key.displayName === 'mallory'));
      await aliceClient.send(new ListBucketsCommand({}));
    });

    it('the root signed with a wrong secret is refused', async () => {
      const result = await runAdmin(['list', '--endpoint', t.endpoint], { accessKeyId: rootCredentials.accessKeyId, secretAccessKey: 'not-the-secret' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /SignatureDoesNotMatch/);
    });

    it('delete: the key stops working at once (403 InvalidAccessKeyId) and leaves the list', async () => {
      const carol = await createKey('carol');
      const carolClient = makeClient(t.endpoint, carol);
      try {
        await carolClient.send(new CreateBucketCommand({ Bucket: 'carol-bucket' }));
        const result = await runAdmin(['delete', carol.accessKeyId, '--endpoint', t.endpoint]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), `deleted ${carol.accessKeyId}`);
        const refused = await s3ErrorOf(carolClient.send(new ListBucketsCommand({})));
        assert.deepEqual([refused.code, refused.status], ['InvalidAccessKeyId', 403]);
        const refusedWrite = await s3ErrorOf(carolClient.send(new PutObjectCommand({ Bucket: 'carol-bucket', Key: 'k', Body: 'x' })));
        assert.deepEqual([refusedWrite.code, refusedWrite.status], ['InvalidAccessKeyId', 403]);
        assert.ok(!(await listKeys()).keys.some((key) => key.accessKeyId === carol.accessKeyId));
        const again = await runAdmin(['delete', carol.accessKeyId, '--endpoint', t.endpoint]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /InvalidAccessKeyId/);
      } finally {
        carolClient.destroy();
      }
      await aliceClient.send(new ListBucketsCommand({}));
    });

    it('the CLI without root credentials says how to give them', async () => {
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'TESSERA_ROOT_USER' && name !== 'TESSERA_ROOT_PASSWORD'));
      const child = spawn(process.execPath, ['bin/tessera.js', 'admin', 'key', 'list', '--endpoint', t.endpoint, '--data', `${t.dataDir}-missing`], {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.resume();
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.notEqual(code, 0);
      assert.match(stderr, /TESSERA_ROOT_USER/);
    });
  });

  describe('ownership and grants', () => {
    const bucket = 'root-private';

    before(async () => {
      await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'root.txt', Body: 'root data' }));
    });

    it("another key cannot read, list, write or see the ACL of the root's private bucket: 403 AccessDenied", async () => {
      const attempts: [string, () => Promise<unknown>][] = [
        ['GetObject', () => aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' }))],
        ['HeadObject', () => aliceClient.send(new HeadObjectCommand({ Bucket: bucket, Key: 'root.txt' }))],
        ['ListObjectsV2', () => aliceClient.send(new ListObjectsV2Command({ Bucket: bucket }))],
        ['PutObject', () => aliceClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'alice.txt', Body: 'x' }))],
        ['DeleteObject', () => aliceClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'root.txt' }))],
        ['GetBucketAcl', () => aliceClient.send(new GetBucketAclCommand({ Bucket: bucket }))],
        ['PutBucketAcl', () => aliceClient.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' }))],
        ['GetObjectAcl', () => aliceClient.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'root.txt' }))],
        ['GetBucketTagging', () => aliceClient.send(new GetBucketTaggingCommand({ Bucket: bucket }))],
        ['PutBucketTagging', () => aliceClient.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }))],
        ['GetObjectTagging', () => aliceClient.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'root.txt' }))],
        ['PutObjectTagging', () => aliceClient.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'root.txt', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }))],
      ];
      for (const [name, attempt] of attempts) {
        const refused = await s3ErrorOf(attempt());
        // A HEAD answer has no body, so no error code to read: the status alone.
        if (name === 'HeadObject') assert.equal(refused.status, 403, name);
        else assert.deepEqual([refused.code, refused.status], ['AccessDenied', 403], name);
      }
      const head = await s3ErrorOf(aliceClient.send(new HeadBucketCommand({ Bucket: bucket })));
      assert.equal(head.status, 403);
      assert.equal((await aliceClient.send(new ListBucketsCommand({}))).Buckets?.length ?? 0, 0, "the root's bucket is not in alice's list");
      assert.equal(await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' }))).then(String), 'root data');
      assert.equal((await t.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'root.txt' }))).TagSet?.length ?? 0, 0);
    });

    it('GrantRead on the bucket lets her list it, not write in it, not read objects she was not granted', async () => {
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, GrantRead: `id="${alice.userId}"` }));
      const listed = await aliceClient.send(new ListObjectsV2Command({ Bucket: bucket }));
      assert.deepEqual(listed.Contents?.map((entry) => entry.Key), ['root.txt']);
      await aliceClient.send(new HeadBucketCommand({ Bucket: bucket }));
      const write = await s3ErrorOf(aliceClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'alice.txt', Body: 'x' })));
      assert.deepEqual([write.code, write.status], ['AccessDenied', 403]);
      const read = await s3ErrorOf(aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' })));
      assert.deepEqual([read.code, read.status], ['AccessDenied', 403], 'bucket READ lists; the object ACL decides reads');
      const acl = await s3ErrorOf(aliceClient.send(new GetBucketAclCommand({ Bucket: bucket })));
      assert.equal(acl.code, 'AccessDenied', 'READ does not include READ_ACP');
    });

    it('GetBucketAcl shows the owner and the grants: CanonicalUser with id and display name', async () => {
      const acl = await t.client.send(new GetBucketAclCommand({ Bucket: bucket }));
      assert.deepEqual(acl.Owner, { ID: rootId, DisplayName: 'root' });
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${alice.userId}:alice:READ`, `CanonicalUser:${rootId}:root:FULL_CONTROL`].sort());
    });

    it('an object ACL grant lets her read that object only', async () => {
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared.txt', Body: 'shared', GrantRead: `id=${alice.userId}` }));
      assert.equal(String(await bodyOf(await aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'shared.txt' })))), 'shared');
      const objectAcl = await t.client.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'shared.txt' }));
      assert.deepEqual(objectAcl.Owner, { ID: rootId, DisplayName: 'root' });
      assert.deepEqual(grantSummary(objectAcl.Grants), [`CanonicalUser:${alice.userId}:alice:READ`, `CanonicalUser:${rootId}:root:FULL_CONTROL`].sort());
      const other = await s3ErrorOf(aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' })));
      assert.equal(other.code, 'AccessDenied');
      const aclRead = await s3ErrorOf(aliceClient.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'shared.txt' })));
      assert.equal(aclRead.code, 'AccessDenied', 'READ on the object does not include READ_ACP');
    });

    it('GrantWrite lets her write; she owns what she writes, and the bucket owner needs a grant to read it', async () => {
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, GrantRead: `id="${alice.userId}"`, GrantWrite: `id="${alice.userId}"` }));
      await aliceClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'alice.txt', Body: 'by alice' }));
      const acl = await aliceClient.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'alice.txt' }));
      assert.deepEqual(acl.Owner, { ID: alice.userId, DisplayName: 'alice' });
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${alice.userId}:alice:FULL_CONTROL`]);
      assert.equal(String(await bodyOf(await aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'alice.txt' })))), 'by alice');
      const listed = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, FetchOwner: true }));
      const entry = listed.Contents?.find((item) => item.Key === 'alice.txt');
      assert.deepEqual(entry?.Owner, { ID: alice.userId, DisplayName: 'alice' });
      const rootRead = await s3ErrorOf(t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'alice.txt' })));
      assert.deepEqual([rootRead.code, rootRead.status], ['AccessDenied', 403], "the bucket owner does not own alice's object");

      await aliceClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'alice-for-owner.txt', Body: 'for the owner', ACL: 'bucket-owner-full-control' }));
      assert.equal(String(await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'alice-for-owner.txt' })))), 'for the owner');
      const forOwnerAcl = await t.client.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'alice-for-owner.txt' }));
      assert.deepEqual(forOwnerAcl.Owner, { ID: alice.userId, DisplayName: 'alice' });
      assert.deepEqual(grantSummary(forOwnerAcl.Grants), [`CanonicalUser:${alice.userId}:alice:FULL_CONTROL`, `CanonicalUser:${rootId}:root:FULL_CONTROL`].sort());

      // Bucket WRITE covers deleting: the bucket owner cleans up, alice removes her own.
      await t.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'alice.txt' }));
      await aliceClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'alice-for-owner.txt' }));
      const left = await t.client.send(new ListObjectsV2Command({ Bucket: bucket }));
      assert.deepEqual(left.Contents?.map((item) => item.Key), ['root.txt', 'shared.txt']);
    });

    it('PutBucketAcl back to private takes the grants away', async () => {
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'private' }));
      const refused = await s3ErrorOf(aliceClient.send(new ListObjectsV2Command({ Bucket: bucket })));
      assert.equal(refused.code, 'AccessDenied');
      const acl = await t.client.send(new GetBucketAclCommand({ Bucket: bucket }));
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`]);
    });

    it('READ_ACP and WRITE_ACP grants: she may read the ACL, then change it', async () => {
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, GrantReadACP: `id=${alice.userId}` }));
      const seen = await aliceClient.send(new GetBucketAclCommand({ Bucket: bucket }));
      assert.equal(seen.Owner?.ID, rootId);
      const write = await s3ErrorOf(aliceClient.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' })));
      assert.equal(write.code, 'AccessDenied');
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, GrantWriteACP: `id=${alice.userId}` }));
      await aliceClient.send(new PutBucketAclCommand({ Bucket: bucket, GrantFullControl: `id=${alice.userId}` }));
      await aliceClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'full-control.txt', Body: 'x' }));
      await aliceClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'full-control.txt' }));
      const owner = await t.client.send(new GetBucketAclCommand({ Bucket: bucket }));
      assert.equal(owner.Owner?.ID, rootId, 'FULL_CONTROL does not transfer ownership');
      const tagging = await s3ErrorOf(aliceClient.send(new GetBucketTaggingCommand({ Bucket: bucket })));
      assert.equal(tagging.code, 'AccessDenied', 'bucket tagging is for the owner');
      await t.client.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'private' }));
    });

    it('AuthenticatedUsers: any signed key may read, anonymous callers may not', async () => {
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'authenticated.txt', Body: 'signed only', ACL: 'authenticated-read' }));
      assert.equal(String(await bodyOf(await aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'authenticated.txt' })))), 'signed only');
      await assertAnonymousDenied('GET', `/${bucket}/authenticated.txt`);
      const acl = await t.client.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'authenticated.txt' }));
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`, `Group:${authenticatedUsersUri}:READ`].sort());
    });

    it('an AccessControlPolicy body grants as the headers do', async () => {
      await t.client.send(
        new PutObjectAclCommand({
          Bucket: bucket,
          Key: 'root.txt',
          AccessControlPolicy: {
            Owner: { ID: rootId },
            Grants: [
              { Grantee: { Type: 'CanonicalUser', ID: rootId }, Permission: 'FULL_CONTROL' },
              { Grantee: { Type: 'CanonicalUser', ID: alice.userId }, Permission: 'READ' },
              { Grantee: { Type: 'Group', URI: allUsersUri }, Permission: 'READ_ACP' },
            ],
          },
        }),
      );
      assert.equal(String(await bodyOf(await aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' })))), 'root data');
      const anonymousAcl = await anonymous('GET', `/${bucket}/root.txt?acl`);
      assert.equal(anonymousAcl.status, 200, anonymousAcl.body);
      assert.equal(xmlText(anonymousAcl.body, 'ID'), rootId);
      await assertAnonymousDenied('GET', `/${bucket}/root.txt`);
      await t.client.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'root.txt', ACL: 'private' }));
      const refused = await s3ErrorOf(aliceClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'root.txt' })));
      assert.equal(refused.code, 'AccessDenied');
    });

    it('PutBucketAcl: headers and a body at once is InvalidRequest, neither is MissingSecurityHeader, a bad document MalformedACLError', async () => {
      const policy = `<AccessControlPolicy><Owner><ID>${rootId}</ID></Owner><AccessControlList></AccessControlList></AccessControlPolicy>`;
      const both = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}`, query: { acl: '' }, headers: { 'x-amz-acl': 'public-read' }, body: policy });
      assert.deepEqual([both.status, xmlText(both.body, 'Code')], [400, 'InvalidRequest']);
      const neither = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}`, query: { acl: '' } });
      assert.deepEqual([neither.status, xmlText(neither.body, 'Code')], [400, 'MissingSecurityHeader']);
      const cannedAndGrant = await sendSigned(t.port, {
        method: 'PUT',
        path: `/${bucket}`,
        query: { acl: '' },
        headers: { 'x-amz-acl': 'public-read', 'x-amz-grant-read': `id=${alice.userId}` },
      });
      assert.deepEqual([cannedAndGrant.status, xmlText(cannedAndGrant.body, 'Code')], [400, 'InvalidRequest']);
      const unknown = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}`, query: { acl: '' }, headers: { 'x-amz-acl': 'world-writable' } });
      assert.deepEqual([unknown.status, xmlText(unknown.body, 'Code')], [400, 'InvalidArgument']);
      const badPermission = policy.replace('<AccessControlList></AccessControlList>', `<AccessControlList><Grant><Grantee><ID>${alice.userId}</ID></Grantee><Permission>OWN</Permission></Grant></AccessControlList>`);
      const malformed = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}`, query: { acl: '' }, body: badPermission });
      assert.deepEqual([malformed.status, xmlText(malformed.body, 'Code')], [400, 'MalformedACLError']);
      const acl = await t.client.send(new GetBucketAclCommand({ Bucket: bucket }));
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`], 'refused requests changed nothing');
    });
  });

  describe('anonymous access and canned ACLs', () => {
    const privateBucket = 'anon-private';
    const publicBucket = 'anon-public-read';
    const openBucket = 'anon-public-read-write';

    before(async () => {
      await t.client.send(new CreateBucketCommand({ Bucket: privateBucket }));
      await t.client.send(new CreateBucketCommand({ Bucket: publicBucket, ACL: 'public-read' }));
      await t.client.send(new CreateBucketCommand({ Bucket: openBucket, ACL: 'public-read-write' }));
      await t.client.send(new PutObjectCommand({ Bucket: privateBucket, Key: 'private.txt', Body: 'private data' }));
      await t.client.send(new PutObjectCommand({ Bucket: privateBucket, Key: 'public.txt', Body: 'public data', ACL: 'public-read' }));
      await t.client.send(new PutObjectCommand({ Bucket: publicBucket, Key: 'private.txt', Body: 'private in public bucket' }));
    });

    it('a public-read object: anonymous GET and HEAD 200; a private object: 403', async () => {
      const read = await anonymous('GET', `/${privateBucket}/public.txt`);
      assert.equal(read.status, 200, read.body);
      assert.equal(read.body, 'public data');
      const head = await anonymous('HEAD', `/${privateBucket}/public.txt`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String('public data'.length));
      await assertAnonymousDenied('GET', `/${privateBucket}/private.txt`);
      const privateHead = await anonymous('HEAD', `/${privateBucket}/private.txt`);
      assert.equal(privateHead.status, 403);
    });

    it('a public-read bucket does not make its objects public', async () => {
      await assertAnonymousDenied('GET', `/${publicBucket}/private.txt`);
    });

    it('anonymous listing: 403 for a private bucket, 200 for a public-read one (V1 and V2)', async () => {
      await assertAnonymousDenied('GET', `/${privateBucket}`);
      await assertAnonymousDenied('GET', `/${privateBucket}?list-type=2`);
      for (const path of [`/${publicBucket}`, `/${publicBucket}?list-type=2`]) {
        const listed = await anonymous('GET', path);
        assert.equal(listed.status, 200, listed.body);
        assert.equal(xmlText(listed.body, 'Key'), 'private.txt', path);
      }
      const head = await anonymous('HEAD', `/${publicBucket}`);
      assert.equal(head.status, 200);
    });

    it('anonymous callers may not list buckets, create one, or read and change ACLs and tags they were not granted', async () => {
      await assertAnonymousDenied('GET', '/');
      await assertAnonymousDenied('PUT', '/anonymous-bucket');
      await assertAnonymousDenied('GET', `/${publicBucket}?acl`);
      await assertAnonymousDenied('PUT', `/${publicBucket}?acl`, '');
      await assertAnonymousDenied('GET', `/${publicBucket}?tagging`);
      await assertAnonymousDenied('GET', `/${privateBucket}/public.txt?acl`);
      await assertAnonymousDenied('DELETE', `/${publicBucket}/private.txt`);
      const missing = await s3ErrorOf(t.client.send(new HeadBucketCommand({ Bucket: 'anonymous-bucket' })));
      assert.equal(missing.status, 404);
    });

    it('anonymous PUT: 403 into a public-read bucket, 200 into a public-read-write one', async () => {
      await assertAnonymousDenied('PUT', `/${publicBucket}/from-anonymous.txt`, 'anonymous data');
      await assertAnonymousDenied('PUT', `/${privateBucket}/from-anonymous.txt`, 'anonymous data');
      const missing = await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: publicBucket, Key: 'from-anonymous.txt' })));
      assert.equal(missing.status, 404, 'a refused PUT stores nothing');
      const written = await anonymous('PUT', `/${openBucket}/from-anonymous.txt`, 'anonymous data');
      assert.equal(written.status, 200, written.body);
      const listed = await t.client.send(new ListObjectsV2Command({ Bucket: openBucket }));
      assert.deepEqual(listed.Contents?.map((entry) => [entry.Key, entry.Size]), [['from-anonymous.txt', 'anonymous data'.length]]);
    });

    it('anonymous PUT with x-amz-acl public-read into a public-read-write bucket can be read back anonymously', async () => {
      const response = await fetch(`${t.endpoint}/${openBucket}/anonymous-public.txt`, { method: 'PUT', body: 'anyone', headers: { 'x-amz-acl': 'public-read' } });
      assert.equal(response.status, 200, await response.text());
      const read = await anonymous('GET', `/${openBucket}/anonymous-public.txt`);
      assert.deepEqual([read.status, read.body], [200, 'anyone']);
      await t.client.send(new DeleteObjectCommand({ Bucket: openBucket, Key: 'anonymous-public.txt' }));
      await t.client.send(new DeleteObjectCommand({ Bucket: openBucket, Key: 'from-anonymous.txt' }));
    });

    it('CreateBucket with x-amz-acl: GetBucketAcl shows the AllUsers group grants', async () => {
      const publicAcl = await t.client.send(new GetBucketAclCommand({ Bucket: publicBucket }));
      assert.deepEqual(publicAcl.Owner, { ID: rootId, DisplayName: 'root' });
      assert.deepEqual(grantSummary(publicAcl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`, `Group:${allUsersUri}:READ`].sort());
      const openAcl = await t.client.send(new GetBucketAclCommand({ Bucket: openBucket }));
      assert.deepEqual(grantSummary(openAcl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`, `Group:${allUsersUri}:READ`, `Group:${allUsersUri}:WRITE`].sort());
      const privateAcl = await t.client.send(new GetBucketAclCommand({ Bucket: privateBucket }));
      assert.deepEqual(grantSummary(privateAcl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`]);
    });

    it('PutObject with x-amz-acl: GetObjectAcl shows the group grant', async () => {
      const acl = await t.client.send(new GetObjectAclCommand({ Bucket: privateBucket, Key: 'public.txt' }));
      assert.deepEqual(acl.Owner, { ID: rootId, DisplayName: 'root' });
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`, `Group:${allUsersUri}:READ`].sort());
    });

    it('CopyObject applies x-amz-acl, and without it the copy is private (ACLs are not copied)', async () => {
      await t.client.send(new CopyObjectCommand({ Bucket: privateBucket, Key: 'copy-public.txt', CopySource: `${privateBucket}/private.txt`, ACL: 'public-read' }));
      const read = await anonymous('GET', `/${privateBucket}/copy-public.txt`);
      assert.deepEqual([read.status, read.body], [200, 'private data']);
      await t.client.send(new CopyObjectCommand({ Bucket: privateBucket, Key: 'copy-private.txt', CopySource: `${privateBucket}/public.txt` }));
      await assertAnonymousDenied('GET', `/${privateBucket}/copy-private.txt`);
      const acl = await t.client.send(new GetObjectAclCommand({ Bucket: privateBucket, Key: 'copy-private.txt' }));
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`]);
    });

    it('CreateMultipartUpload applies x-amz-acl to the completed object', async () => {
      const key = 'multipart-public.bin';
      const bytes = patternBytes(partBytesMin + 1000, 7);
      const upload = await t.client.send(new CreateMultipartUploadCommand({ Bucket: privateBucket, Key: key, ACL: 'public-read' }));
      const first = await t.client.send(new UploadPartCommand({ Bucket: privateBucket, Key: key, UploadId: upload.UploadId, PartNumber: 1, Body: bytes.subarray(0, partBytesMin) }));
      const second = await t.client.send(new UploadPartCommand({ Bucket: privateBucket, Key: key, UploadId: upload.UploadId, PartNumber: 2, Body: bytes.subarray(partBytesMin) }));
      await t.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: privateBucket,
          Key: key,
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag }, { PartNumber: 2, ETag: second.ETag }] },
        }),
      );
      const response = await fetch(`${t.endpoint}/${privateBucket}/${key}`);
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(bytes));
      const acl = await t.client.send(new GetObjectAclCommand({ Bucket: privateBucket, Key: key }));
      assert.deepEqual(grantSummary(acl.Grants), [`CanonicalUser:${rootId}:root:FULL_CONTROL`, `Group:${allUsersUri}:READ`].sort());
    });

    it('PutObjectAcl public-read and back to private changes anonymous reads in place, without a new version', async () => {
      await t.client.send(new PutObjectAclCommand({ Bucket: privateBucket, Key: 'private.txt', ACL: 'public-read' }));
      const read = await anonymous('GET', `/${privateBucket}/private.txt`);
      assert.deepEqual([read.status, read.body], [200, 'private data']);
      await t.client.send(new PutObjectAclCommand({ Bucket: privateBucket, Key: 'private.txt', ACL: 'private' }));
      await assertAnonymousDenied('GET', `/${privateBucket}/private.txt`);
      const versions = await t.client.send(new ListObjectVersionsCommand({ Bucket: privateBucket, Prefix: 'private.txt' }));
      assert.equal(versions.Versions?.length, 1);
    });

    it('ACL requests for missing objects and buckets: NoSuchKey, NoSuchBucket', async () => {
      const key = await s3ErrorOf(t.client.send(new GetObjectAclCommand({ Bucket: privateBucket, Key: 'missing' })));
      assert.deepEqual([key.code, key.status], ['NoSuchKey', 404]);
      const putKey = await s3ErrorOf(t.client.send(new PutObjectAclCommand({ Bucket: privateBucket, Key: 'missing', ACL: 'private' })));
      assert.deepEqual([putKey.code, putKey.status], ['NoSuchKey', 404]);
      const bucket = await s3ErrorOf(t.client.send(new GetBucketAclCommand({ Bucket: 'no-such-bucket-here' })));
      assert.deepEqual([bucket.code, bucket.status], ['NoSuchBucket', 404]);
    });
  });

  describe('tagging', () => {
    const bucket = 'tagging';
    const versionedBucket = 'tagging-versioned';

    before(async () => {
      await t.client.send(new CreateBucketCommand({ Bucket: bucket }));
      await t.client.send(new CreateBucketCommand({ Bucket: versionedBucket }));
      await t.client.send(new PutBucketVersioningCommand({ Bucket: versionedBucket, VersioningConfiguration: { Status: 'Enabled' } }));
    });

    async function tagsOf(key: string, bucketName = bucket, versionId?: string): Promise<Record<string, string>> {
      const output = await t.client.send(new GetObjectTaggingCommand({ Bucket: bucketName, Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) }));
      return tagObject(output.TagSet);
    }

    it('Put/Get/DeleteObjectTagging; an untagged object has an empty TagSet', async () => {
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: 'plain' }));
      assert.deepEqual(await tagsOf('plain'), {});
      await t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'plain', Tagging: { TagSet: tagList({ project: 'tessera', 'cost center': 'a&b <c>' }) } }));
      assert.deepEqual(await tagsOf('plain'), { project: 'tessera', 'cost center': 'a&b <c>' });
      const head = await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain' }));
      assert.equal(head.TagCount, 2);
      await t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'plain', Tagging: { TagSet: tagList({ only: 'one' }) } }));
      assert.deepEqual(await tagsOf('plain'), { only: 'one' }, 'PutObjectTagging replaces the whole set');
      await t.client.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 'plain' }));
      assert.deepEqual(await tagsOf('plain'), {});
      assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain' }))).TagCount, undefined);
      assert.equal(String(await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain' })))), 'plain', 'tagging leaves the data alone');
    });

    it('tagging a missing object: NoSuchKey', async () => {
      const put = await s3ErrorOf(t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'missing', Tagging: { TagSet: tagList({ a: '1' }) } })));
      assert.deepEqual([put.code, put.status], ['NoSuchKey', 404]);
      const get = await s3ErrorOf(t.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'missing' })));
      assert.deepEqual([get.code, get.status], ['NoSuchKey', 404]);
    });

    it('x-amz-tagging on PutObject; TagCount on HEAD and GET (x-amz-tagging-count)', async () => {
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tagged', Body: 'tagged', Tagging: 'a=1&b=two%20words&empty=' }));
      assert.deepEqual(await tagsOf('tagged'), { a: '1', b: 'two words', empty: '' });
      assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tagged' }))).TagCount, 3);
      const get = await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'tagged' }));
      assert.equal(get.TagCount, 3);
      await bodyOf(get);
      const raw = await sendSigned(t.port, { method: 'HEAD', path: `/${bucket}/tagged` });
      assert.equal(raw.headers['x-amz-tagging-count'], '3');
    });

    it('versioned bucket: tags belong to a version; versionId selects it; tagging makes no new version', async () => {
      const key = 'versioned';
      const first = await t.client.send(new PutObjectCommand({ Bucket: versionedBucket, Key: key, Body: 'one', Tagging: 'v=1' }));
      const second = await t.client.send(new PutObjectCommand({ Bucket: versionedBucket, Key: key, Body: 'two', Tagging: 'v=2' }));
      assert.ok(first.VersionId !== undefined && second.VersionId !== undefined);
      assert.deepEqual(await tagsOf(key, versionedBucket), { v: '2' });
      assert.deepEqual(await tagsOf(key, versionedBucket, first.VersionId), { v: '1' });
      const got = await t.client.send(new GetObjectTaggingCommand({ Bucket: versionedBucket, Key: key, VersionId: first.VersionId }));
      assert.equal(got.VersionId, first.VersionId);
      const latest = await t.client.send(new GetObjectTaggingCommand({ Bucket: versionedBucket, Key: key }));
      assert.equal(latest.VersionId, second.VersionId);

      const put = await t.client.send(new PutObjectTaggingCommand({ Bucket: versionedBucket, Key: key, VersionId: first.VersionId, Tagging: { TagSet: tagList({ v: 'one', old: 'yes' }) } }));
      assert.equal(put.VersionId, first.VersionId);
      assert.deepEqual(await tagsOf(key, versionedBucket, first.VersionId), { v: 'one', old: 'yes' });
      assert.deepEqual(await tagsOf(key, versionedBucket), { v: '2' }, 'the current version is untouched');
      assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: versionedBucket, Key: key, VersionId: first.VersionId }))).TagCount, 2);

      await t.client.send(new PutObjectTaggingCommand({ Bucket: versionedBucket, Key: key, Tagging: { TagSet: tagList({ v: 'two' }) } }));
      assert.deepEqual(await tagsOf(key, versionedBucket, second.VersionId), { v: 'two' }, 'without versionId: the current version');

      const deleted = await t.client.send(new DeleteObjectTaggingCommand({ Bucket: versionedBucket, Key: key, VersionId: first.VersionId }));
      assert.equal(deleted.VersionId, first.VersionId);
      assert.deepEqual(await tagsOf(key, versionedBucket, first.VersionId), {});
      assert.deepEqual(await tagsOf(key, versionedBucket), { v: 'two' });

      const versions = await t.client.send(new ListObjectVersionsCommand({ Bucket: versionedBucket, Prefix: key }));
      assert.deepEqual(
        versions.Versions?.map((version) => version.VersionId),
        [second.VersionId, first.VersionId],
      );
      assert.equal(String(await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: versionedBucket, Key: key, VersionId: first.VersionId })))), 'one');

      const marker = await t.client.send(new DeleteObjectCommand({ Bucket: versionedBucket, Key: key }));
      const onMarker = await s3ErrorOf(t.client.send(new GetObjectTaggingCommand({ Bucket: versionedBucket, Key: key })));
      assert.equal(onMarker.status, 404, 'the current version is a delete marker');
      assert.deepEqual(await tagsOf(key, versionedBucket, second.VersionId), { v: 'two' });
      const unknown = await s3ErrorOf(t.client.send(new GetObjectTaggingCommand({ Bucket: versionedBucket, Key: key, VersionId: '0'.repeat(28) })));
      assert.deepEqual([unknown.code, unknown.status], ['NoSuchVersion', 404]);
      assert.ok(marker.VersionId !== undefined);
    });

    it('CopyObject: TaggingDirective COPY (the default) keeps the tags; REPLACE takes x-amz-tagging, or none', async () => {
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'source', Body: 'source', Tagging: 'from=source&n=1' }));
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-default', CopySource: `${bucket}/source` }));
      assert.deepEqual(await tagsOf('copy-default'), { from: 'source', n: '1' });
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-copy', CopySource: `${bucket}/source`, TaggingDirective: 'COPY', Tagging: 'ignored=yes' }));
      assert.deepEqual(await tagsOf('copy-copy'), { from: 'source', n: '1' }, 'COPY ignores x-amz-tagging');
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-replace', CopySource: `${bucket}/source`, TaggingDirective: 'REPLACE', Tagging: 'from=copy' }));
      assert.deepEqual(await tagsOf('copy-replace'), { from: 'copy' });
      assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copy-replace' }))).TagCount, 1);
      await t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-none', CopySource: `${bucket}/source`, TaggingDirective: 'REPLACE' }));
      assert.deepEqual(await tagsOf('copy-none'), {});
      assert.deepEqual(await tagsOf('source'), { from: 'source', n: '1' }, 'the source keeps its tags');
      await t.client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: 'source', CopySource: `${bucket}/source`, MetadataDirective: 'REPLACE', TaggingDirective: 'REPLACE', Tagging: 'self=copied' }),
      );
      assert.deepEqual(await tagsOf('source'), { self: 'copied' }, 'copying onto itself with REPLACE retags it');
      const unknown = await sendSigned(t.port, {
        method: 'PUT',
        path: `/${bucket}/copy-bad`,
        headers: { 'x-amz-copy-source': `/${bucket}/source`, 'x-amz-tagging-directive': 'MERGE' },
      });
      assert.deepEqual([unknown.status, xmlText(unknown.body, 'Code')], [400, 'InvalidArgument']);
    });

    it('tags given at CreateMultipartUpload are on the completed object', async () => {
      const key = 'multipart-tagged';
      const upload = await t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Tagging: 'upload=multipart&parts=2' }));
      const bytes = patternBytes(partBytesMin + 10, 3);
      const first = await t.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId, PartNumber: 1, Body: bytes.subarray(0, partBytesMin) }));
      const second = await t.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId, PartNumber: 2, Body: bytes.subarray(partBytesMin) }));
      await t.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag }, { PartNumber: 2, ETag: second.ETag }] },
        }),
      );
      assert.deepEqual(await tagsOf(key), { upload: 'multipart', parts: '2' });
      assert.equal((await t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).TagCount, 2);
      await t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: tagList({ retagged: 'yes' }) } }));
      assert.deepEqual(await tagsOf(key), { retagged: 'yes' });
      assert.ok((await bodyOf(await t.client.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).equals(bytes));
    });

    it('bucket tagging: GetBucketTagging on an untagged bucket is 404 NoSuchTagSet; Put, Get, Delete', async () => {
      const untagged = await s3ErrorOf(t.client.send(new GetBucketTaggingCommand({ Bucket: bucket })));
      assert.deepEqual([untagged.code, untagged.status], ['NoSuchTagSet', 404]);
      const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`key-${index}`, `value-${index}`]));
      await t.client.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: tagList(fifty) } }));
      assert.deepEqual(tagObject((await t.client.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet), fifty);
      await t.client.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: tagList({ env: 'test' }) } }));
      assert.deepEqual(tagObject((await t.client.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet), { env: 'test' });
      await t.client.send(new DeleteBucketTaggingCommand({ Bucket: bucket }));
      const deleted = await s3ErrorOf(t.client.send(new GetBucketTaggingCommand({ Bucket: bucket })));
      assert.deepEqual([deleted.code, deleted.status], ['NoSuchTagSet', 404]);
      await t.client.send(new DeleteBucketTaggingCommand({ Bucket: bucket }));
      const missing = await s3ErrorOf(t.client.send(new GetBucketTaggingCommand({ Bucket: 'no-such-bucket-here' })));
      assert.deepEqual([missing.code, missing.status], ['NoSuchBucket', 404]);
    });

    it('InvalidTag over HTTP, for every way tags arrive; nothing is stored or changed', async () => {
      const eleven = tagList(Object.fromEntries(Array.from({ length: 11 }, (_, index) => [`k${index}`, 'v'])));
      const fiftyOne = tagList(Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`k${index}`, 'v'])));
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'kept', Body: 'kept', Tagging: 'keep=me' }));
      const attempts: [string, () => Promise<unknown>][] = [
        ['11 object tags', () => t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: eleven } }))],
        ['key of 129', () => t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: [{ Key: 'k'.repeat(129), Value: 'v' }] } }))],
        ['empty key', () => t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: [{ Key: '', Value: 'v' }] } }))],
        ['value of 257', () => t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: [{ Key: 'k', Value: 'v'.repeat(257) }] } }))],
        [
          'duplicate keys',
          () => t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: [{ Key: 'k', Value: '1' }, { Key: 'k', Value: '2' }] } })),
        ],
        ['51 bucket tags', () => t.client.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: fiftyOne } }))],
        ['duplicate bucket keys', () => t.client.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'k', Value: '1' }, { Key: 'k', Value: '1' }] } }))],
        ['PutObject header, duplicates', () => t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'refused', Body: 'x', Tagging: 'a=1&a=2' }))],
        [
          'PutObject header, 11 tags',
          () => t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'refused', Body: 'x', Tagging: Array.from({ length: 11 }, (_, index) => `k${index}=v`).join('&') })),
        ],
        ['CopyObject header, key of 129', () => t.client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'refused', CopySource: `${bucket}/kept`, TaggingDirective: 'REPLACE', Tagging: `${'k'.repeat(129)}=v` }))],
        ['CreateMultipartUpload header, value of 257', () => t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'refused', Tagging: `k=${'v'.repeat(257)}` }))],
      ];
      for (const [name, attempt] of attempts) {
        const refused = await s3ErrorOf(attempt());
        assert.deepEqual([refused.code, refused.status], ['InvalidTag', 400], name);
      }
      assert.deepEqual(await tagsOf('kept'), { keep: 'me' });
      const missing = await s3ErrorOf(t.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'refused' })));
      assert.equal(missing.status, 404);
      const noTagSet = await s3ErrorOf(t.client.send(new GetBucketTaggingCommand({ Bucket: bucket })));
      assert.equal(noTagSet.code, 'NoSuchTagSet');
      const uploads = await sendSigned(t.port, { method: 'GET', path: `/${bucket}`, query: { uploads: '' } });
      assert.equal(xmlText(uploads.body, 'Upload'), undefined, 'no upload was created');
      const malformed = await sendSigned(t.port, { method: 'PUT', path: `/${bucket}/kept`, query: { tagging: '' }, body: '<Tagging><TagSet>' });
      assert.deepEqual([malformed.status, xmlText(malformed.body, 'Code')], [400, 'MalformedXML']);
    });

    it('tags at the limits are accepted: 10 tags, a 128-character key, a 256-character value, counted in code points', async () => {
      const ten = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`k${index}`, 'v']));
      await t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: tagList(ten) } }));
      assert.deepEqual(await tagsOf('kept'), ten);
      const wide = { ['😀'.repeat(128)]: '中'.repeat(256) };
      await t.client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'kept', Tagging: { TagSet: tagList(wide) } }));
      assert.deepEqual(await tagsOf('kept'), wide);
      await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'wide-header', Body: 'x', Tagging: `${encodeURIComponent('😀'.repeat(128))}=${encodeURIComponent('v'.repeat(256))}` }));
      assert.deepEqual(await tagsOf('wide-header'), { ['😀'.repeat(128)]: 'v'.repeat(256) });
    });
  });

  describe('secrets', () => {
    it('no secret (root or created) appears in any line the server logged', () => {
      assert.ok(secrets.length >= 4, `secrets seen: ${secrets.length}`);
      for (const secret of secrets) {
        const leaked = logLines.filter((line) => line.includes(secret));
        assert.deepEqual(leaked, [], 'a secret was logged');
      }
    });
  });
});
